namespace DatasetExport.Engine.Formats;

/// <summary>Widens record values of one kind to a wider kind allowed by <see cref="SchemaMerger"/>.</summary>
internal static class FieldValues
{
    /// <summary>The function converting values of <paramref name="source"/> to <paramref name="target"/>, or null when no conversion is needed.</summary>
    public static Func<object, object>? Widening(FieldKind source, FieldKind target) => (source, target) switch
    {
        _ when source == target => null,
        (FieldKind.Int32, FieldKind.Int64) => static v => (long)(int)v,
        (FieldKind.Int32, FieldKind.Double) => static v => (double)(int)v,
        (FieldKind.Int64, FieldKind.Double) => static v => (double)(long)v,
        (FieldKind.Float, FieldKind.Double) => static v => FloatToDouble((float)v),
        (FieldKind.Int32, FieldKind.Decimal) => static v => (decimal)(int)v,
        (FieldKind.Int64, FieldKind.Decimal) => static v => (decimal)(long)v,
        _ => throw new InvalidCastException($"{source} values cannot be widened to {target}."),
    };

    /// <summary>Float to double by its shortest text, so 0.1f becomes 0.1 and not 0.10000000149011612.</summary>
    public static double FloatToDouble(float value) =>
        float.IsFinite(value) ? double.Parse(value.ToString("R", System.Globalization.CultureInfo.InvariantCulture), System.Globalization.CultureInfo.InvariantCulture) : value;
}
