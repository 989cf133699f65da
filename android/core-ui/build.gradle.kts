// UI-free logic of the app: view models and form state over the CrfStore interface.
// Plain Kotlin/JVM on purpose (no Android dependency), so that its tests run on any JVM.
plugins {
    alias(libs.plugins.kotlin.jvm)
}

kotlin {
    jvmToolchain(17)
}

val repoRoot = rootDir.parentFile

dependencies {
    api(libs.kotlinx.coroutines.core)

    testImplementation(libs.kotlin.test.junit5)
    testImplementation(platform(libs.junit.bom))
    testImplementation(libs.junit.jupiter)
    testRuntimeOnly(libs.junit.platform.launcher)
    testImplementation(libs.jna)
}

// The tests drive the view models against the REAL library: they compile with the generated
// uniffi Kotlin and :wardcrf's plain-Kotlin adapter, and load the host build of
// libwardcrf_ffi with a real wardcrf-server (as android/test-jvm does without Gradle).
sourceSets {
    test {
        kotlin.srcDir(File(repoRoot, "target/bindings/kotlin"))
        kotlin.srcDir(file("../wardcrf/src/main/kotlin/org/wardcrf/store"))
        // The test support shared with the bindings' own JVM tests (key provider, server).
        kotlin.srcDir(File(repoRoot, "bindings/kotlin/src/testing/kotlin"))
    }
}

val hostLibrary by tasks.registering(Exec::class) {
    description = "Builds the host libwardcrf_ffi and wardcrf-server (debug) and generates the Kotlin bindings."
    workingDir = repoRoot
    commandLine("bash", "-c", "cargo build -p wardcrf-ffi -p uniffi-bindgen -p wardcrf-server && bindings/generate --no-build")
}

tasks.named("compileTestKotlin") { dependsOn(hostLibrary) }

tasks.test {
    useJUnitPlatform()
    val debug = File(repoRoot, "target/debug")
    systemProperty("jna.library.path", debug.absolutePath)
    systemProperty("wardcrf.server", File(debug, "wardcrf-server").absolutePath)
}
