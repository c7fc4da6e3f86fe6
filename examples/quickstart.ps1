#Requires -Version 7.4
<#
.SYNOPSIS
    A five-minute tour of DatasetExport: makes a sample lake, exports it to a local folder, shows and verifies the runs.

.DESCRIPTION
    1. Writes a sample lake under -WorkFolder: three JSON Lines datasets (one with gzipped batches and a
       _dataset.json naming it) with thousands of records, generated here in plain PowerShell.
    2. Makes a fourth, Parquet, dataset the honest way: by exporting the orders dataset to a Local destination
       that writes Snappy-compressed Parquet into a new folder of the lake.
    3. Creates a Local destination (gzipped JSON Lines with manifests) and an incremental flow of every eligible
       dataset, runs it, lists the runs and re-reads every written file to verify it.

    Unless $env:DATASETEXPORT_HOME is already set, the tour keeps its state (destinations, flows, runs) in
    <WorkFolder>/state so it never touches your own; it leaves the variable set so you can explore afterwards.
    Only Microsoft.PowerShell.Core commands and .NET are used (hence $PSCmdlet.WriteVerbose and [IO.File]), so it runs in any host.

.EXAMPLE
    dotnet build DatasetExport.sln; pwsh -NoProfile -File examples/quickstart.ps1
#>
[CmdletBinding()]
param(
    # Where the lake, the exports and (by default) the state go. A new temporary folder when omitted.
    [string] $WorkFolder = [System.IO.Path]::Combine([System.IO.Path]::GetTempPath(), "DatasetExport-quickstart-" + [guid]::NewGuid().ToString('N').Substring(0, 8)),

    # Records in each of the larger datasets.
    [ValidateRange(10, 10000000)]
    [int] $Records = 6000
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0

# .NET resolves relative paths against the process's folder, which Set-Location never moves: make it full here.
$WorkFolder = $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($WorkFolder)

$manifest = [System.IO.Path]::Combine($PSScriptRoot, '..', 'out', 'DatasetExport', 'DatasetExport.psd1')
Import-Module ([System.IO.Path]::GetFullPath($manifest))

if (-not $env:DATASETEXPORT_HOME) {
    $env:DATASETEXPORT_HOME = [System.IO.Path]::Combine($WorkFolder, 'state')
    $PSCmdlet.WriteVerbose("State home for this tour: $env:DATASETEXPORT_HOME")
}
$lake = [System.IO.Directory]::CreateDirectory([System.IO.Path]::Combine($WorkFolder, 'lake')).FullName
$exports = [System.IO.Path]::Combine($WorkFolder, 'exports')
$invariant = [System.Globalization.CultureInfo]::InvariantCulture

function Write-JsonLinesBatch {
    param([string] $Dataset, [string] $FileName, [string[]] $Lines, [switch] $Gzip)
    $folder = [System.IO.Directory]::CreateDirectory([System.IO.Path]::Combine($lake, $Dataset)).FullName
    $path = [System.IO.Path]::Combine($folder, $FileName)
    if (-not $Gzip) {
        [System.IO.File]::WriteAllLines($path, $Lines)
        return
    }
    $file = [System.IO.File]::Create($path)
    try {
        $compressor = [System.IO.Compression.GZipStream]::new($file, [System.IO.Compression.CompressionLevel]::Optimal)
        $writer = [System.IO.StreamWriter]::new($compressor, [System.Text.UTF8Encoding]::new($false))
        foreach ($line in $Lines) { $writer.WriteLine($line) }
        $writer.Dispose()
    }
    finally { $file.Dispose() }
}

# --- 1. A sample lake of JSON Lines datasets -------------------------------------------------------------------
$customers = foreach ($id in 1..500) {
    '{{"customerId":{0},"name":"Customer {0}","country":"{1}","since":"{2:yyyy-MM-dd}"}}' -f $id, ('NL', 'DE', 'FR', 'US', 'JP')[$id % 5], [datetime]::new(2020, 1, 1).AddDays($id)
}
Write-JsonLinesBatch -Dataset customers -FileName 'customers-0001.jsonl' -Lines $customers

$batchSize = [math]::Ceiling($Records / 3)
foreach ($batch in 0..2) {
    $orders = foreach ($i in 1..$batchSize) {
        $id = $batch * $batchSize + $i
        [string]::Format($invariant, '{{"orderId":{0},"customerId":{1},"amount":{2:0.00},"currency":"EUR","paid":{3},"orderedAt":"{4:yyyy-MM-ddTHH:mm:ssZ}"}}',
            $id, 1 + $id % 500, ($id % 997) * 1.37, ($id % 4 -ne 0).ToString().ToLowerInvariant(), [datetime]::new(2026, 1, 1).AddMinutes($id * 7))
    }
    Write-JsonLinesBatch -Dataset orders -FileName ('orders-{0:0000}.jsonl' -f $batch) -Lines $orders
}

foreach ($batch in 0..1) {
    $events = foreach ($i in 1..($Records / 2)) {
        $id = $batch * $Records + $i
        [string]::Format($invariant, '{{"eventId":"e-{0}","page":"/products/{1}","durationMs":{2},"tags":["web","{3}"]}}', $id, $id % 113, 20 + $id % 3000, ('mobile', 'desktop')[$id % 2])
    }
    Write-JsonLinesBatch -Dataset web-events -FileName ('events-{0:0000}.json.gz' -f $batch) -Lines $events -Gzip
}
[System.IO.File]::WriteAllText([System.IO.Path]::Combine($lake, 'web-events', '_dataset.json'),
    '{"id":"web-events","name":"Web events","description":"Page views from the web shop, one file per hour."}')

Set-DatasetExportOption -LakePath $lake

# Start from a clean slate when the tour runs again against the same state home.
$tourNames = 'quickstart', 'quickstart-parquet'
Get-ExportFlow | Where-Object Name -In $tourNames | Remove-ExportFlow -Confirm:$false
Get-ExportDestination | Where-Object Name -In $tourNames | Remove-ExportDestination -Confirm:$false

# --- 2. A Parquet dataset, made by exporting orders as Parquet into a new lake folder --------------------------
$parquetFolder = [System.IO.Path]::Combine($lake, 'orders-parquet')
$toParquet = New-ExportDestination -Name quickstart-parquet -Type Local -Path $parquetFolder -FileType Parquet -Compression Snappy -IncludeManifest:$false
New-ExportFlow -Name quickstart-parquet -Destination $toParquet -Dataset orders | Out-Null
$parquetRun = Start-ExportRun -Flow quickstart-parquet
if ($parquetRun.Status -ne 'Succeeded') { throw "Making the Parquet dataset failed: $($parquetRun.Error)" }
Remove-ExportFlow -Name quickstart-parquet -Confirm:$false
Remove-ExportDestination -Name quickstart-parquet -Confirm:$false

# --- 3. Export every eligible dataset to a local folder, then look at the runs and verify them -----------------
$destination = New-ExportDestination -Name quickstart -Type Local -Path $exports -FileType Json -Compression Gzip -IncludeManifest
Get-EligibleDataset | New-ExportFlow -Name quickstart -Destination $destination -Incremental | Out-Null

Get-EligibleDataset
Start-ExportRun -Flow quickstart | Out-Null
Get-ExportRun -Flow quickstart
Get-ExportRun -Flow quickstart | Test-ExportRun

$PSCmdlet.WriteVerbose("Lake: $lake")
$PSCmdlet.WriteVerbose("Exports: $exports")
