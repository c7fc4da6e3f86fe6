@{
    RootModule           = 'DatasetExport.dll'
    ModuleVersion        = '0.1.0'
    GUID                 = '5b0f5c1e-8d3a-4c57-9a53-0f2c7d7b6a41'
    Author               = 'DatasetExport contributors'
    Copyright            = '(c) DatasetExport contributors. MIT License.'
    Description          = 'Exports datasets from a data lake (Parquet and JSON Lines batches) to local folders, Amazon S3, Google Cloud Storage, Azure Blob, Azure Data Lake Gen2, Data Landing Zones and SFTP, records every run and verifies what was written.'
    PowerShellVersion    = '7.4'
    CompatiblePSEditions = @('Core')
    FormatsToProcess     = @('DatasetExport.format.ps1xml')
    CmdletsToExport      = @(
        'Get-EligibleDataset'
        'Get-DatasetExportOption'
        'Set-DatasetExportOption'
        'New-ExportDestination'
        'Get-ExportDestination'
        'Set-ExportDestination'
        'Remove-ExportDestination'
        'Test-ExportDestination'
        'New-ExportFlow'
        'Get-ExportFlow'
        'Set-ExportFlow'
        'Remove-ExportFlow'
        'Enable-ExportFlow'
        'Disable-ExportFlow'
        'Start-ExportRun'
        'Invoke-ExportSchedule'
        'Get-ExportRun'
        'Remove-ExportRun'
        'Test-ExportRun'
    )
    FunctionsToExport    = @()
    VariablesToExport    = @()
    AliasesToExport      = @()
    PrivateData          = @{
        PSData = @{
            Tags       = @('DataLake', 'Export', 'Parquet', 'JSON', 'S3', 'Azure', 'SFTP')
            LicenseUri = 'https://opensource.org/licenses/MIT'
        }
    }
}
