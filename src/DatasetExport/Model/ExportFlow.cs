namespace DatasetExport;

/// <summary>A stored flow: datasets bound to a destination.</summary>
public sealed class ExportFlow
{
    public Guid Id { get; init; }
    public string Name { get; init; } = "";
    public string Destination { get; init; } = "";
    public string[] Datasets { get; init; } = [];
    public ExportMode Mode { get; init; }
    public bool Enabled { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset ModifiedAt { get; init; }

    public override string ToString() => Name;
}
