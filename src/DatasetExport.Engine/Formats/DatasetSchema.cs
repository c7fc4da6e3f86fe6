using System.Text;

namespace DatasetExport.Engine.Formats;

/// <summary>The logical type of a column, independent of the file format it came from.</summary>
public enum FieldKind
{
    Boolean,
    Int32,
    Int64,
    Float,
    Double,
    /// <summary>Exact decimal with <see cref="SchemaField.Precision"/> and <see cref="SchemaField.Scale"/>.</summary>
    Decimal,
    String,
    Binary,
    /// <summary>Calendar date without time (record value: <see cref="DateOnly"/>).</summary>
    Date,
    /// <summary>Instant in UTC (record value: <see cref="DateTime"/> with Kind Utc).</summary>
    Timestamp,
    /// <summary>Time of day (record value: <see cref="TimeSpan"/>).</summary>
    Time,
    /// <summary>Named children (record value: <see cref="IReadOnlyDictionary{TKey,TValue}"/> of string to object).</summary>
    Struct,
    /// <summary>Children[0] is the element (record value: <see cref="IReadOnlyList{T}"/> of object).</summary>
    List,
    /// <summary>Children[0] is the key, Children[1] the value (record value: <see cref="IReadOnlyList{T}"/> of KeyValuePair of object to object).</summary>
    Map,
}

/// <summary>One column (or nested field) of a dataset.</summary>
public sealed record SchemaField(
    string Name,
    FieldKind Kind,
    bool Nullable = true,
    int Precision = 0,
    int Scale = 0,
    IReadOnlyList<SchemaField>? Children = null)
{
    public IReadOnlyList<SchemaField> ChildFields => Children ?? Array.Empty<SchemaField>();

    /// <summary>
    /// A field whose batch holds no value to tell its kind: a nullable String that JSON inference gave a field it only ever
    /// saw as <c>null</c> (or a list element it only saw empty lists of), or a Parquet column of logical type UNKNOWN
    /// ("always null", its physical type's kind). Merging takes the other side's kind (<see cref="SchemaMerger"/>). Not part
    /// of equality: the column is of its kind all the same.
    /// </summary>
    public bool OnlyNulls { get; init; }

    /// <summary>
    /// A field JSON inference gave a JSON Lines batch (every field it infers, at every level): its kind is what the JSON
    /// text showed (a string, a number, an object), not a declared type. Merged with a declared field (a Parquet column) of
    /// a kind JSON holds as such text, it takes the declared kind and its batch is read converted to it
    /// (<see cref="SchemaMerger"/>: a string to a timestamp, date, time or binary; a number to a decimal; an object, or a map
    /// JSON inference gave an object whose keys are data, to a map with scalar keys). Not part of equality: the column is of
    /// its kind all the same.
    /// </summary>
    public bool JsonInferred { get; init; }

    /// <summary>
    /// For a JSON-inferred Double that the merge made of it and integers (another JSON batch's Int64, or a declared Int32 or
    /// Int64 column): the integer digits those integers need (19 for int64, 10 for int32), to which a declared Decimal it
    /// meets later widens, as the integers widen it when they meet it first (<see cref="SchemaMerger"/>), so the merged
    /// kind does not depend on the order the batches meet in. 0 otherwise. Set only by merging batches' schemas (a batch's
    /// own inference never sets it), so not kept in the state store; not part of equality.
    /// </summary>
    internal int IntegerDigits { get; init; }

    /// <summary>Human-readable type, e.g. <c>decimal(18,2)</c>, <c>list&lt;string&gt;</c>, <c>struct&lt;a:int64,b:string&gt;</c>.</summary>
    public string TypeName => Kind switch
    {
        FieldKind.Decimal => $"decimal({Precision},{Scale})",
        FieldKind.List => $"list<{ChildFields[0].TypeName}>",
        FieldKind.Map => $"map<{ChildFields[0].TypeName},{ChildFields[1].TypeName}>",
        FieldKind.Struct => "struct<" + string.Join(",", ChildFields.Select(c => $"{c.Name}:{c.TypeName}")) + ">",
        _ => Kind.ToString().ToLowerInvariant(),
    };

    public bool Equals(SchemaField? other) =>
        other is not null && Name == other.Name && Kind == other.Kind && Nullable == other.Nullable &&
        Precision == other.Precision && Scale == other.Scale && ChildFields.SequenceEqual(other.ChildFields);

    public override int GetHashCode() => HashCode.Combine(Name, Kind, Nullable, Precision, Scale, ChildFields.Count);
}

/// <summary>The ordered top-level columns of a dataset.</summary>
public sealed record DatasetSchema(IReadOnlyList<SchemaField> Fields)
{
    public bool Equals(DatasetSchema? other) => other is not null && Fields.SequenceEqual(other.Fields);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (var field in Fields) hash.Add(field);
        return hash.ToHashCode();
    }

    public override string ToString()
    {
        var text = new StringBuilder();
        foreach (var field in Fields)
        {
            if (text.Length > 0) text.Append(", ");
            text.Append(field.Name).Append(' ').Append(field.TypeName);
        }
        return text.ToString();
    }
}
