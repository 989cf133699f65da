pluginManagement {
    repositories {
        google {
            content {
                includeGroupByRegex("com\\.android.*")
                includeGroupByRegex("com\\.google.*")
                includeGroupByRegex("androidx.*")
            }
        }
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "WardCRF"

// The Rust core through uniffi (generated Kotlin, JNA, native libraries, Keystore key provider)
include(":wardcrf")
// UI-free logic: view models and form state over a store interface; plain Kotlin/JVM
include(":core-ui")
// The Jetpack Compose app
include(":app")
