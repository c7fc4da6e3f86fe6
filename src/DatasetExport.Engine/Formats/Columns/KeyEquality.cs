using System.Runtime.CompilerServices;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// When two map keys of a column's value type are the same key: strings and binaries by their bytes (not by the memory
/// they are in), floating-point numbers by their bits (NaN is one key, as .NET's equality has it, but 0 and -0 are two,
/// as the texts <c>"0"</c> and <c>"-0"</c> our JSON writes them in), everything else by .NET's equality.
/// </summary>
internal static class KeyEquality<T>
{
    public static readonly IEqualityComparer<T> Comparer = (IEqualityComparer<T>)(object)(typeof(T) switch
    {
        var type when type == typeof(ReadOnlyMemory<byte>) => new BytesComparer(),
        var type when type == typeof(double) => new BitsComparer<double, long>(),
        var type when type == typeof(float) => new BitsComparer<float, int>(),
        _ => EqualityComparer<T>.Default,
    });

    private sealed class BytesComparer : IEqualityComparer<ReadOnlyMemory<byte>>
    {
        public bool Equals(ReadOnlyMemory<byte> x, ReadOnlyMemory<byte> y) => x.Span.SequenceEqual(y.Span);

        public int GetHashCode(ReadOnlyMemory<byte> bytes)
        {
            var hash = new HashCode();
            hash.AddBytes(bytes.Span);
            return hash.ToHashCode();
        }
    }

    /// <summary>NaNs of any payload are one key: their bits are made the same first.</summary>
    private sealed class BitsComparer<TNumber, TBits> : IEqualityComparer<TNumber>
        where TNumber : struct, System.Numerics.IFloatingPointIeee754<TNumber>
        where TBits : struct
    {
        public bool Equals(TNumber x, TNumber y) => Bits(x).Equals(Bits(y));

        public int GetHashCode(TNumber number) => Bits(number).GetHashCode();

        private static TBits Bits(TNumber number) => Unsafe.BitCast<TNumber, TBits>(TNumber.IsNaN(number) ? TNumber.NaN : number);
    }
}
