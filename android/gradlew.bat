@rem
@rem Gradle start-up script for Windows: runs the Gradle wrapper (gradle\wrapper\gradle-wrapper.jar),
@rem which downloads and starts the Gradle version pinned in gradle\wrapper\gradle-wrapper.properties.
@rem Same behaviour as the script `gradle wrapper` writes (JAVA_HOME, else java.exe on PATH;
@rem DEFAULT_JVM_OPTS, JAVA_OPTS, GRADLE_OPTS). The wrapper jar is binary and not committed:
@rem when it is missing the script says how to regenerate it (see android\README.md).
@rem

@if "%DEBUG%"=="" @echo off
@rem Set local scope for the variables with windows NT shell
if "%OS%"=="Windows_NT" setlocal

set DIRNAME=%~dp0
if "%DIRNAME%"=="" set DIRNAME=.
set APP_BASE_NAME=%~n0
set APP_HOME=%DIRNAME%

@rem Resolve any "." and ".." in APP_HOME to make it shorter.
for %%i in ("%APP_HOME%") do set APP_HOME=%%~fi

@rem Default JVM options; JAVA_OPTS and GRADLE_OPTS add to them.
set DEFAULT_JVM_OPTS="-Xmx64m" "-Xms64m"

set WRAPPER_JAR=%APP_HOME%\gradle\wrapper\gradle-wrapper.jar
if exist "%WRAPPER_JAR%" goto findJava

echo. 1>&2
echo ERROR: %WRAPPER_JAR% is missing. 1>&2
echo. 1>&2
echo The Gradle wrapper jar is binary and not kept in this repository. Regenerate it once 1>&2
echo with any Gradle 8.13 or newer on your PATH (or let Android Studio import the project): 1>&2
echo. 1>&2
echo     cd %APP_HOME% ^&^& gradle wrapper --gradle-version 8.14.3 1>&2
echo. 1>&2
echo See android\README.md. 1>&2
goto fail

:findJava
@rem Find java.exe
if defined JAVA_HOME goto findJavaFromJavaHome

set JAVA_EXE=java.exe
%JAVA_EXE% -version >NUL 2>&1
if %ERRORLEVEL% equ 0 goto execute

echo. 1>&2
echo ERROR: JAVA_HOME is not set and no 'java' command could be found in your PATH. 1>&2
echo. 1>&2
echo Please set the JAVA_HOME variable in your environment to match the 1>&2
echo location of your Java installation. 1>&2
goto fail

:findJavaFromJavaHome
set JAVA_HOME=%JAVA_HOME:"=%
set JAVA_EXE=%JAVA_HOME%/bin/java.exe

if exist "%JAVA_EXE%" goto execute

echo. 1>&2
echo ERROR: JAVA_HOME is set to an invalid directory: %JAVA_HOME% 1>&2
echo. 1>&2
echo Please set the JAVA_HOME variable in your environment to match the 1>&2
echo location of your Java installation. 1>&2
goto fail

:execute
@rem Execute Gradle
"%JAVA_EXE%" %DEFAULT_JVM_OPTS% %JAVA_OPTS% %GRADLE_OPTS% "-Dorg.gradle.appname=%APP_BASE_NAME%" -jar "%WRAPPER_JAR%" %*

:end
@rem End local scope for the variables with windows NT shell
if %ERRORLEVEL% equ 0 goto mainEnd

:fail
rem Set variable GRADLE_EXIT_CONSOLE if you need the _script_ return code instead of
rem the _cmd.exe /c_ return code!
set EXIT_CODE=%ERRORLEVEL%
if %EXIT_CODE% equ 0 set EXIT_CODE=1
if not ""=="%GRADLE_EXIT_CONSOLE%" exit %EXIT_CODE%
exit /b %EXIT_CODE%

:mainEnd
if "%OS%"=="Windows_NT" endlocal

:omega
