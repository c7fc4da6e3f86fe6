namespace DatasetExport;

/// <summary>The result of Test-ExportDestination: a probe file was written, read back and deleted.</summary>
public sealed class DestinationTestResult
{
    public string Name { get; init; } = "";
    public DestinationType Type { get; init; }
    public string Location { get; init; } = "";
    public bool Succeeded { get; init; }
    /// <summary>Why the test failed, without secrets; null when it succeeded.</summary>
    public string? Message { get; init; }
}

/// <summary>The module's settings, as Get-DatasetExportOption returns them.</summary>
public sealed class DatasetExportOption
{
    /// <summary>The lake used when a cmdlet gets no -LakePath; null when none is set.</summary>
    public string? LakePath { get; init; }
    /// <summary>The folder holding the state database and keys ($env:DATASETEXPORT_HOME or the per-user default).</summary>
    public string StateHome { get; init; } = "";
}
