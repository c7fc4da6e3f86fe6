namespace DatasetExport.Engine.Formats;

/// <summary>
/// A JSON Lines batch's schema inferred from its first lines (<see cref="JsonLinesBatchReader.SchemaSampleLines"/>), which
/// an export writes with when the state store does not know the batch's full schema yet. The export's read then checks
/// every line against the dataset schema by the inference's rules (no field it lacks, no wider kind, no null where it holds
/// none, no element of a list the sample only saw empty): when all lines fit, the schema is the one every line would have
/// given (the dataset schema holds each batch's full schema, and merging those gives back no less than the samples did);
/// a line that does not fit throws <see cref="SchemaSampleMisfitException"/> and the export starts over from every line.
/// </summary>
/// <param name="Complete">The batch has no more lines than the sample: the schema is its full one.</param>
/// <remarks>
/// The dataset schema merges every batch's, so a line of one batch is checked against it for kinds and nulls (another
/// batch may have widened them, as it would have the full schemas) but against its own batch's sample for which fields
/// there are (<see cref="FieldPaths"/>).
/// </remarks>
/// <param name="UnobservedElements">Paths (<c>tags[]</c>) of list elements the sample only saw empty lists of (see <see cref="JsonSchemaInference.UnobservedElements"/>).</param>
/// <param name="Maps">
/// Paths of the objects the sample judged maps (<see cref="JsonSchemaInference.MapMinKeys"/>): the batch's read counts their
/// objects, entries and distinct keys, and when their keys are not sparse over the whole batch, that does not fit either
/// (every line would give a struct), though each line did.
/// </param>
/// <param name="DenseObjects">
/// Paths of structs of more than <see cref="JsonSchemaInference.MapMinKeys"/> fields (each with their number) whose values
/// would merge into one kind, which the sample left structs for their keys being dense: when they are sparse over the whole
/// batch, that does not fit (every line would give a map).
/// </param>
internal sealed record JsonSchemaSample(
    DatasetSchema Schema, bool Complete, IReadOnlySet<string> UnobservedElements,
    IReadOnlySet<string>? Maps = null, IReadOnlyDictionary<string, int>? DenseObjects = null)
{
    /// <summary>
    /// Paths (<c>geo.city</c>, <c>tags[]</c>) of every field of <see cref="Schema"/>, as its <see cref="ColumnLayout"/> names
    /// them (the shredder's fields are layout nodes of the dataset schema). A later line of the batch with a field outside
    /// them does not fit even where another batch gave the dataset schema that field: the batch's full schema would hold it
    /// in another place (fields are in the order lines first show them).
    /// </summary>
    public IReadOnlySet<string> FieldPaths { get; } = ColumnLayout.For(Schema).Columns.SelectMany(Nodes).Select(node => node.Path).ToHashSet(StringComparer.Ordinal);

    private static IEnumerable<LayoutNode> Nodes(LayoutNode node) => node switch
    {
        StructLayout structNode => structNode.Children.SelectMany(Nodes).Prepend(node),
        ListLayout list => Nodes(list.Element).Prepend(node),
        MapLayout map => Nodes(map.Key).Concat(Nodes(map.Value)).Prepend(node),
        _ => [node],
    };
}

/// <summary>A line past a batch's schema sample that the schema inferred from the sample does not hold (see <see cref="JsonSchemaSample"/>).</summary>
internal sealed class SchemaSampleMisfitException(string path, long lineNumber, string reason)
    : Exception($"Line {lineNumber} of '{path}' does not fit the schema inferred from the batch's first lines: {reason}")
{
    public string Path { get; } = path;
    public long LineNumber { get; } = lineNumber;
}
