namespace DatasetExport.Engine.Formats;

/// <summary>Widens column values of one kind to a wider kind allowed by <see cref="SchemaMerger"/>.</summary>
internal static class FieldValues
{
    /// <summary>
    /// The first <paramref name="count"/> of <paramref name="values"/> (an array of <paramref name="source"/>'s
    /// <see cref="ColumnData.ValueType"/>) as an array of <paramref name="target"/>'s value type: the same array when the
    /// kinds are equal, otherwise a new one of <paramref name="count"/> values.
    /// </summary>
    public static Array Widen(Array values, int count, FieldKind source, FieldKind target) => (source, target, values) switch
    {
        _ when source == target => values,
        (FieldKind.Int32, FieldKind.Int64, int[] v) => Map(v, count, static x => (long)x),
        (FieldKind.Int32, FieldKind.Double, int[] v) => Map(v, count, static x => (double)x),
        (FieldKind.Int64, FieldKind.Double, long[] v) => Map(v, count, static x => (double)x),
        (FieldKind.Float, FieldKind.Double, float[] v) => Map(v, count, FloatToDouble),
        (FieldKind.Int32, FieldKind.Decimal, int[] v) => Map(v, count, static x => (decimal)x),
        (FieldKind.Int64, FieldKind.Decimal, long[] v) => Map(v, count, static x => (decimal)x),
        _ => throw new InvalidCastException($"{source} values cannot be widened to {target}."),
    };

    /// <summary>Float to double by its shortest text, so 0.1f becomes 0.1 and not 0.10000000149011612.</summary>
    public static double FloatToDouble(float value) =>
        float.IsFinite(value) ? double.Parse(value.ToString("R", System.Globalization.CultureInfo.InvariantCulture), System.Globalization.CultureInfo.InvariantCulture) : value;

    public const long NanosPerTick = 100;

    /// <summary>
    /// <paramref name="value"/> / <paramref name="divisor"/> rounded down: cutting a time before 1970 to a coarser unit
    /// must move it earlier, as cutting digits off its text does, not towards 1970 (which changes its second, day or year).
    /// </summary>
    public static long FloorDivide(long value, long divisor)
    {
        var quotient = value / divisor;
        return value % divisor < 0 ? quotient - 1 : quotient;
    }

    /// <summary>A new array of the first <paramref name="count"/> values converted, in one typed loop.</summary>
    public static TOut[] Map<TIn, TOut>(TIn[] values, int count, Func<TIn, TOut> convert)
    {
        var result = new TOut[count];
        for (var i = 0; i < result.Length; i++) result[i] = convert(values[i]);
        return result;
    }
}
