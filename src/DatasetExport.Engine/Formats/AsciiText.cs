using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// ASCII text widened from UTF-8 to UTF-16 and narrowed back by loops of our own, compiled optimized at once
/// (<see cref="CompileOptions.HotPath"/>): most text of an export is ASCII, and the runtime's transcoders, called for every
/// value from the JSON Lines shredder and the Parquet writer, ran in its instrumented tiers for much of an export.
/// Text with any other char goes to <see cref="System.Text.Encoding.UTF8"/> as before.
/// </summary>
internal static class AsciiText
{
    /// <summary>Writes <paramref name="bytes"/> as chars into <paramref name="chars"/> (at least as long) when all are ASCII; false at the first that is not.</summary>
    [MethodImpl(CompileOptions.HotPath)]
    public static bool TryWiden(ReadOnlySpan<byte> bytes, Span<char> chars)
    {
        if (chars.Length < bytes.Length) throw new ArgumentException("The chars are shorter than the bytes.", nameof(chars));
        var i = 0;
        if (Vector128.IsHardwareAccelerated)
        {
            ref var source = ref MemoryMarshal.GetReference(bytes);
            ref var target = ref Unsafe.As<char, ushort>(ref MemoryMarshal.GetReference(chars));
            for (; i + Vector128<byte>.Count <= bytes.Length; i += Vector128<byte>.Count)
            {
                var block = Vector128.LoadUnsafe(ref source, (nuint)i);
                if (block.ExtractMostSignificantBits() != 0) return false;
                var (lower, upper) = Vector128.Widen(block);
                lower.StoreUnsafe(ref target, (nuint)i);
                upper.StoreUnsafe(ref target, (nuint)(i + Vector128<ushort>.Count));
            }
        }
        for (; i < bytes.Length; i++)
        {
            var b = bytes[i];
            if (b >= 0x80) return false;
            chars[i] = (char)b;
        }
        return true;
    }

    /// <summary>Writes <paramref name="chars"/> as bytes into <paramref name="bytes"/> (at least as long) when all are ASCII; false at the first that is not.</summary>
    [MethodImpl(CompileOptions.HotPath)]
    public static bool TryNarrow(ReadOnlySpan<char> chars, Span<byte> bytes)
    {
        if (bytes.Length < chars.Length) throw new ArgumentException("The bytes are shorter than the chars.", nameof(bytes));
        var i = 0;
        if (Vector128.IsHardwareAccelerated)
        {
            ref var source = ref Unsafe.As<char, ushort>(ref MemoryMarshal.GetReference(chars));
            ref var target = ref MemoryMarshal.GetReference(bytes);
            var nonAscii = Vector128.Create((ushort)0xFF80);
            for (; i + Vector128<byte>.Count <= chars.Length; i += Vector128<byte>.Count)
            {
                var lower = Vector128.LoadUnsafe(ref source, (nuint)i);
                var upper = Vector128.LoadUnsafe(ref source, (nuint)(i + Vector128<ushort>.Count));
                if (((lower | upper) & nonAscii) != Vector128<ushort>.Zero) return false;
                Vector128.Narrow(lower, upper).StoreUnsafe(ref target, (nuint)i);
            }
        }
        for (; i < chars.Length; i++)
        {
            var c = chars[i];
            if (c >= 0x80) return false;
            bytes[i] = (byte)c;
        }
        return true;
    }
}
