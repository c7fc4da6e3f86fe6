#Requires -Version 7.4
<#
.SYNOPSIS
    Builds, tests, or tours the DatasetExport module. A thin wrapper over dotnet.

.EXAMPLE
    ./build.ps1                      # Build: lays out the importable module under out/DatasetExport/
    ./build.ps1 Test                 # every test project (tests/run-tests.sh also installs and starts the test servers)
    ./build.ps1 Build, Quickstart    # build, then run examples/quickstart.ps1
#>
[CmdletBinding()]
param(
    [ValidateSet('Build', 'Test', 'Quickstart')]
    [string[]] $Task = 'Build',

    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Debug'
)

$ErrorActionPreference = 'Stop'
$solution = Join-Path $PSScriptRoot 'DatasetExport.sln'

function Invoke-Dotnet {
    & dotnet @args
    if ($LASTEXITCODE -ne 0) { throw "dotnet $($args -join ' ') failed with exit code $LASTEXITCODE." }
}

foreach ($name in $Task) {
    switch ($name) {
        'Build' { Invoke-Dotnet build $solution --configuration $Configuration }
        'Test' { Invoke-Dotnet test $solution --configuration $Configuration }
        'Quickstart' {
            if (-not (Test-Path (Join-Path $PSScriptRoot 'out' 'DatasetExport' 'DatasetExport.psd1'))) {
                Invoke-Dotnet build $solution --configuration $Configuration
            }
            # The tour runs in a child pwsh so its module import and $env:DATASETEXPORT_HOME stay out of this session.
            & (Get-Process -Id $PID).Path -NoProfile -File (Join-Path $PSScriptRoot 'examples' 'quickstart.ps1') -Verbose
            if ($LASTEXITCODE -ne 0) { throw "The quickstart failed with exit code $LASTEXITCODE." }
        }
    }
}
