namespace DatasetExport.Engine.Tests.Formats;

/// <summary>Shared by the format tests: one DuckDB, one temp folder, and the all-types Parquet fixture written once.</summary>
public sealed class FormatsFixture : IDisposable
{
    public const int Rows = 5000;

    private readonly TempFolder _folder = new("formats");

    public FormatsFixture()
    {
        Duck = new DuckDb();
        AllTypesParquet = _folder.Combine("all.parquet");
        AllTypes.WriteParquet(Duck, AllTypesParquet, Rows);
    }

    internal DuckDb Duck { get; }

    /// <summary>DuckDB-written Parquet of <see cref="AllTypes"/>, <see cref="Rows"/> rows in several row groups.</summary>
    public string AllTypesParquet { get; }

    /// <summary>A fresh path under the shared folder.</summary>
    public string NewPath(string fileName) => _folder.Combine($"{Guid.NewGuid():N}-{fileName}");

    public void Dispose()
    {
        Duck.Dispose();
        _folder.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class FormatsCollection : ICollectionFixture<FormatsFixture>
{
    public const string Name = "Formats";
}
