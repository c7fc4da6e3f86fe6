using System.Runtime.CompilerServices;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// How a dataset schema's values are laid out as leaf columns with definition and repetition levels (Dremel encoding,
/// as in Parquet). Every reader produces, and every writer consumes, chunks in this one canonical layout:
/// structs, lists and maps are always optional (a struct adds one definition level, a list or map two: present, then
/// each entry); leaves add one level when nullable. Map keys are never null. The Parquet writer's file schema has
/// exactly these levels (<see cref="ParquetSchemaMapping.ToParquetSchema"/>).
/// </summary>
public sealed class ColumnLayout
{
    private static readonly ConditionalWeakTable<DatasetSchema, ColumnLayout> Cache = new();

    private ColumnLayout(DatasetSchema schema)
    {
        Schema = schema;
        var leaves = new List<LeafLayout>();
        Columns = schema.Fields.Select(field => Build(field, field.Name, parentLevel: 0, repetition: 0, leaves)).ToList();
        Leaves = leaves;
    }

    public DatasetSchema Schema { get; }

    /// <summary>One node per top-level field, in schema order.</summary>
    public IReadOnlyList<LayoutNode> Columns { get; }

    /// <summary>Every leaf, depth first in schema order; <see cref="LeafLayout.Index"/> is the position here.</summary>
    public IReadOnlyList<LeafLayout> Leaves { get; }

    /// <summary>The layout of <paramref name="schema"/>, computed once per schema instance.</summary>
    public static ColumnLayout For(DatasetSchema schema)
    {
        ArgumentNullException.ThrowIfNull(schema);
        return Cache.GetValue(schema, static s => new ColumnLayout(s));
    }

    /// <summary>
    /// The path of a struct with no fields in <paramref name="schema"/> (a JSON object empty wherever it appears), or null.
    /// Such a struct has no leaf to carry its levels, so a chunk could not tell it from null, and Parquet has no empty group.
    /// </summary>
    public static string? EmptyStructPath(DatasetSchema schema) => schema.Fields.Select(field => EmptyStructPath(field, field.Name)).FirstOrDefault(path => path is not null);

    private static string? EmptyStructPath(SchemaField field, string path) => field.Kind switch
    {
        FieldKind.Struct when field.ChildFields.Count == 0 => path,
        FieldKind.Struct => field.ChildFields.Select(child => EmptyStructPath(child, path + "." + child.Name)).FirstOrDefault(found => found is not null),
        FieldKind.List => EmptyStructPath(field.ChildFields[0], path + "[]"),
        FieldKind.Map => EmptyStructPath(field.ChildFields[1], path + ".value"),
        _ => null,
    };

    public static string EmptyStructProblem(string path) =>
        $"Column '{path}' is an object that is empty wherever it appears (a struct with no fields): it has no value to store, "
        + "and Parquet has no empty group, so it cannot be exported. Give the object a field in some record, or leave it out.";

    private static LayoutNode Build(SchemaField field, string path, int parentLevel, int repetition, List<LeafLayout> leaves)
    {
        switch (field.Kind)
        {
            case FieldKind.Struct:
            {
                var children = field.ChildFields.Select(child => Build(child, path + "." + child.Name, parentLevel + 1, repetition, leaves)).ToList();
                return new StructLayout(field, path, parentLevel, children);
            }
            case FieldKind.List:
            {
                var element = Build(field.ChildFields[0], path + "[]", parentLevel + 2, repetition + 1, leaves);
                return new ListLayout(field, path, parentLevel, repetition + 1, element);
            }
            case FieldKind.Map:
            {
                var key = Build(field.ChildFields[0] with { Nullable = false }, path + ".key", parentLevel + 2, repetition + 1, leaves);
                var value = Build(field.ChildFields[1], path + ".value", parentLevel + 2, repetition + 1, leaves);
                return new MapLayout(field, path, parentLevel, repetition + 1, key, value);
            }
            default:
            {
                var leaf = new LeafLayout(field, path, parentLevel, leaves.Count, field.Nullable ? parentLevel + 1 : parentLevel, repetition);
                leaves.Add(leaf);
                return leaf;
            }
        }
    }
}

/// <summary>A field in the canonical layout.</summary>
public abstract class LayoutNode
{
    private protected LayoutNode(SchemaField field, string path, int nullLevel)
    {
        Field = field;
        Path = path;
        NullLevel = nullLevel;
    }

    public SchemaField Field { get; }

    /// <summary>Dotted path for messages, e.g. <c>geo.city</c> or <c>tags[]</c>.</summary>
    public string Path { get; }

    /// <summary>The definition level of an entry where this field is null (its parent being present).</summary>
    public int NullLevel { get; }

    /// <summary>The leaves below this node (itself for a leaf); the first decides nullness and list boundaries when assembling.</summary>
    public abstract IReadOnlyList<LeafLayout> Leaves { get; }
}

/// <summary>A leaf column: scalar values of one <see cref="FieldKind"/>.</summary>
public sealed class LeafLayout : LayoutNode
{
    private readonly LeafLayout[] _self;

    internal LeafLayout(SchemaField field, string path, int nullLevel, int index, int maxDefinition, int maxRepetition)
        : base(field, path, nullLevel)
    {
        Index = index;
        MaxDefinition = maxDefinition;
        MaxRepetition = maxRepetition;
        LevelBytes = (maxDefinition > 0 ? sizeof(int) : 0) + (maxRepetition > 0 ? sizeof(int) : 0);
        _self = [this];
    }

    /// <summary>Position among the layout's leaves (and a chunk's columns).</summary>
    public int Index { get; }

    /// <summary>The definition level of an entry holding a value.</summary>
    public int MaxDefinition { get; }

    public int MaxRepetition { get; }

    /// <summary>Bytes an entry's levels take where they are held as ints: 4 for each kind of level the leaf has.</summary>
    public int LevelBytes { get; }

    public override IReadOnlyList<LeafLayout> Leaves => _self;
}

public sealed class StructLayout : LayoutNode
{
    internal StructLayout(SchemaField field, string path, int nullLevel, IReadOnlyList<LayoutNode> children) : base(field, path, nullLevel)
    {
        Children = children;
        Leaves = children.SelectMany(child => child.Leaves).ToList();
    }

    /// <summary>One node per child field, in order; the struct is present at definition level <see cref="LayoutNode.NullLevel"/> + 1.</summary>
    public IReadOnlyList<LayoutNode> Children { get; }

    public override IReadOnlyList<LeafLayout> Leaves { get; }
}

/// <summary>A list: null at <see cref="LayoutNode.NullLevel"/>, empty at +1, elements from +2 on.</summary>
public sealed class ListLayout : LayoutNode
{
    internal ListLayout(SchemaField field, string path, int nullLevel, int repeatedLevel, LayoutNode element) : base(field, path, nullLevel)
    {
        RepeatedLevel = repeatedLevel;
        Element = element;
    }

    /// <summary>The repetition level of the second and later elements of one list.</summary>
    public int RepeatedLevel { get; }

    public LayoutNode Element { get; }

    public override IReadOnlyList<LeafLayout> Leaves => Element.Leaves;
}

/// <summary>A map: null at <see cref="LayoutNode.NullLevel"/>, empty at +1, entries from +2 on (keys first, then values).</summary>
public sealed class MapLayout : LayoutNode
{
    internal MapLayout(SchemaField field, string path, int nullLevel, int repeatedLevel, LayoutNode key, LayoutNode value) : base(field, path, nullLevel)
    {
        RepeatedLevel = repeatedLevel;
        Key = key;
        Value = value;
        Leaves = key.Leaves.Concat(value.Leaves).ToList();
    }

    public int RepeatedLevel { get; }
    public LayoutNode Key { get; }
    public LayoutNode Value { get; }

    public override IReadOnlyList<LeafLayout> Leaves { get; }
}
