using System.Buffers;
using System.Buffers.Text;
using System.Globalization;
using System.Numerics;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace DatasetExport.Engine.Formats;

/// <summary>
/// The JSON text that JSON Lines are read from into kinds JSON has no type for (docs/formats.md, "Reading JSON Lines"),
/// parsed exactly, never by culture or guess:
/// <list type="bullet">
/// <item>Timestamp: <c>yyyy-MM-dd</c>, then <c>T</c> (or <c>t</c>, or one space), <c>HH:mm</c>, optionally <c>:ss</c> and a
/// fraction of 1 to 9 digits, then <c>Z</c> (or <c>z</c>), an offset <c>±HH:mm</c>, <c>±HHmm</c> or <c>±HH</c>, or nothing
/// (taken as UTC, as a Parquet timestamp not adjusted to UTC is). An offset converts to UTC. Digits past the 7th of the
/// fraction (100 ns ticks) are cut, towards the past, as nanosecond Parquet timestamps are.</item>
/// <item>Date: <c>yyyy-MM-dd</c>.</item>
/// <item>Time: <c>HH:mm</c>, optionally <c>:ss</c> and a fraction of 1 to 9 digits (cut as above); or <c>24:00:00</c>.</item>
/// <item>Decimal: a JSON number's text (exponent too) with no more digits after the point (trailing zeros aside) or
/// before it than the column's scale and precision allow, and one .NET <see cref="decimal"/> holds exactly.</item>
/// <item>Binary: base64 of the standard alphabet with its padding, and no white space.</item>
/// </list>
/// What <see cref="JsonRowWriter"/> writes for these kinds is among these forms, so exported JSON reads back.
/// </summary>
internal static class JsonScalarText
{
    /// <summary>The forms <see cref="TryParseTimestamp"/> reads, for messages.</summary>
    public const string TimestampForms = "an ISO-8601 timestamp, yyyy-MM-ddTHH:mm[:ss[.fffffffff]] with Z, an offset or none (UTC)";

    public const string DateForms = "a date yyyy-MM-dd";

    public const string TimeForms = "a time HH:mm[:ss[.fffffffff]]";

    public const string Base64Forms = "base64 of the standard alphabet with its padding and no white space";

    /// <summary>The forms <see cref="TryParseTimestamp"/> reads whose instant in UTC is outside what a <see cref="DateTime"/> holds, for messages.</summary>
    public const string TimestampOutsideRange = "an ISO-8601 timestamp outside 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.9999999Z in UTC, the instants this tool holds";

    public static bool TryParseTimestamp(ReadOnlySpan<char> text, out DateTime timestamp) => ParseTimestamp(text, out timestamp) == TimestampText.Fits;

    /// <summary>What <see cref="TryParseTimestamp"/> made of a string, for messages.</summary>
    public enum TimestampText
    {
        Fits,
        /// <summary>Not one of the forms read.</summary>
        NotTheForm,
        /// <summary>One of the forms, whose offset takes it before year 1 or past year 9999 in UTC.</summary>
        OutsideRange,
    }

    /// <summary>As <see cref="TryParseTimestamp"/>, saying why a string does not fit.</summary>
    public static TimestampText ParseTimestamp(ReadOnlySpan<char> text, out DateTime timestamp)
    {
        timestamp = default;
        if (text.Length < 16 || !TryParseDate(text[..10], out var date) || text[10] is not ('T' or 't' or ' ')) return TimestampText.NotTheForm;
        var rest = text[11..];
        if (!TryParseTimeOfDay(ref rest, out var timeTicks)) return TimestampText.NotTheForm;
        long offsetTicks = 0;
        if (rest.Length > 0 && !TryParseOffset(rest, out offsetTicks)) return TimestampText.NotTheForm;
        var ticks = date.DayNumber * TimeSpan.TicksPerDay + timeTicks - offsetTicks;
        if (ticks < DateTime.MinValue.Ticks || ticks > DateTime.MaxValue.Ticks) return TimestampText.OutsideRange;
        timestamp = new DateTime(ticks, DateTimeKind.Utc);
        return TimestampText.Fits;
    }

    public static bool TryParseDate(ReadOnlySpan<char> text, out DateOnly date)
    {
        date = default;
        if (text.Length != 10 || text[4] != '-' || text[7] != '-') return false;
        if (!TryDigits(text[..4], out var year) || !TryDigits(text.Slice(5, 2), out var month) || !TryDigits(text.Slice(8, 2), out var day)) return false;
        if (year < 1 || month is < 1 or > 12 || day < 1 || day > DateTime.DaysInMonth(year, month)) return false;
        date = new DateOnly(year, month, day);
        return true;
    }

    /// <summary>A time of day, or the end of the day 24:00:00 that a Parquet TIME may hold (and JSON output writes).</summary>
    public static bool TryParseTime(ReadOnlySpan<char> text, out TimeSpan time)
    {
        if (text.SequenceEqual("24:00:00"))
        {
            time = TimeSpan.FromDays(1);
            return true;
        }
        time = default;
        if (!TryParseTimeOfDay(ref text, out var ticks) || text.Length > 0) return false;
        time = new TimeSpan(ticks);
        return true;
    }

    /// <summary><c>HH:mm[:ss[.f{1,9}]]</c> at the start of <paramref name="text"/>, which is left at what follows.</summary>
    private static bool TryParseTimeOfDay(ref ReadOnlySpan<char> text, out long ticks)
    {
        ticks = 0;
        if (text.Length < 5 || text[2] != ':' || !TryDigits(text[..2], out var hour) || !TryDigits(text.Slice(3, 2), out var minute)) return false;
        if (hour > 23 || minute > 59) return false;
        ticks = hour * TimeSpan.TicksPerHour + minute * TimeSpan.TicksPerMinute;
        text = text[5..];
        if (text.Length == 0 || text[0] != ':') return true;
        if (text.Length < 3 || !TryDigits(text.Slice(1, 2), out var second) || second > 59) return false;
        ticks += second * TimeSpan.TicksPerSecond;
        text = text[3..];
        if (text.Length == 0 || text[0] != '.') return true;
        var digits = 1;
        while (digits < text.Length && char.IsAsciiDigit(text[digits])) digits++;
        digits--;
        if (digits is < 1 or > 9) return false;
        long fraction = 0;
        for (var i = 1; i <= 7; i++) fraction = fraction * 10 + (i <= digits ? text[i] - '0' : 0);
        ticks += fraction;
        text = text[(digits + 1)..];
        return true;
    }

    /// <summary><c>Z</c>, <c>z</c>, <c>±HH:mm</c>, <c>±HHmm</c> or <c>±HH</c>, the whole of <paramref name="text"/>, as ticks east of UTC.</summary>
    private static bool TryParseOffset(ReadOnlySpan<char> text, out long ticks)
    {
        ticks = 0;
        if (text is "Z" or "z") return true;
        if (text.Length < 3 || text[0] is not ('+' or '-') || !TryDigits(text.Slice(1, 2), out var hours) || hours > 23) return false;
        var minutes = 0;
        var rest = text[3..];
        if (rest.Length > 0)
        {
            if (rest[0] == ':') rest = rest[1..];
            if (rest.Length != 2 || !TryDigits(rest, out minutes) || minutes > 59) return false;
        }
        ticks = (hours * TimeSpan.TicksPerHour + minutes * TimeSpan.TicksPerMinute) * (text[0] == '-' ? -1 : 1);
        return true;
    }

    private static bool TryDigits(ReadOnlySpan<char> text, out int value)
    {
        value = 0;
        foreach (var c in text)
        {
            if (!char.IsAsciiDigit(c)) return false;
            value = value * 10 + (c - '0');
        }
        return true;
    }

    /// <summary>
    /// What a map key (a JSON property name) of <paramref name="key"/>'s kind is read from, for messages: the text
    /// <see cref="JsonRowWriter"/> writes such keys in (numbers in the invariant culture, floating point round-trippable,
    /// decimals with their scale, dates, timestamps and times as their JSON strings, binaries as base64), and the forms
    /// the same kind's JSON values are read from.
    /// </summary>
    public static string KeyForms(SchemaField key) => key.Kind switch
    {
        FieldKind.Boolean => "true or false",
        FieldKind.Int32 => "an integer within int32",
        FieldKind.Int64 => "an integer within int64",
        FieldKind.Float or FieldKind.Double => "a number (NaN, Infinity and -Infinity too)",
        FieldKind.Decimal => $"a number with at most {key.Scale} digits after the point and {key.Precision - key.Scale} before it",
        FieldKind.Binary => Base64Forms,
        FieldKind.Date => DateForms,
        FieldKind.Timestamp => TimestampForms,
        FieldKind.Time => TimeForms,
        _ => "a key this tool reads: JSON object keys are text, read into maps of scalar keys only",
    };

    /// <summary>A map key as a message quotes it: a JSON string (escaped where JSON escapes, non-ASCII kept).</summary>
    public static string QuoteKey(string key) => "\"" + JsonEncodedText.Encode(key, JavaScriptEncoder.UnsafeRelaxedJsonEscaping) + "\"";

    // Integer keys: an optional sign and digits (what the writer writes, and leading zeros); no white space.
    public static bool TryParseInt32Key(ReadOnlySpan<char> text, out int value)
    {
        value = 0;
        return !EndsInNul(text) && int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);
    }

    public static bool TryParseInt64Key(ReadOnlySpan<char> text, out long value)
    {
        value = 0;
        return !EndsInNul(text) && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);
    }

    /// <summary>.NET's number parsing skips U+0000 after a number (<c>"7\0"</c> is 7): no number's text ends so.</summary>
    private static bool EndsInNul(ReadOnlySpan<char> text) => text.Length > 0 && text[^1] == '\0';

    // Floating point keys: the writer's round-trippable text ("1.5", "1E+20", "NaN", "Infinity", "-Infinity"), and DuckDB's
    // infinite keys "inf" / "-inf" (its "nan" .NET reads, as it reads NaN and Infinity in any case); no white space, no U+0000.
    private const NumberStyles FloatKey = NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent;

    public static bool TryParseFloatingPointKey<T>(ReadOnlySpan<char> text, out T value) where T : IFloatingPointIeee754<T>
    {
        value = T.Zero;
        if (EndsInNul(text)) return false;
        if (T.TryParse(text, FloatKey, CultureInfo.InvariantCulture, out var parsed))
        {
            value = parsed;
            return true;
        }
        if (!IsInfKey(text, out var negative)) return false;
        value = negative ? T.NegativeInfinity : T.PositiveInfinity;
        return true;
    }

    /// <summary>DuckDB's text of an infinite floating point key: <c>inf</c> or <c>-inf</c> (a sign and any case, as .NET reads <c>Infinity</c>).</summary>
    private static bool IsInfKey(ReadOnlySpan<char> text, out bool negative)
    {
        negative = text.Length > 0 && text[0] == '-';
        var unsigned = text.Length > 0 && text[0] is '-' or '+' ? text[1..] : text;
        return unsigned.Equals("inf", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// The bytes the UTF-8 base64 text <paramref name="text"/> (a JSON string unescaped) holds: the standard alphabet, padded
    /// to a multiple of 4 characters, nothing else. .NET's decoders skip white space (a space anywhere, MIME's line breaks);
    /// none is taken here: our JSON writer, and the JSON base64 of common tools (JavaScript's <c>btoa</c> and
    /// <c>Buffer.toString('base64')</c>, Python's <c>b64encode</c>, Java's <c>Base64.getEncoder()</c>), write none.
    /// </summary>
    public static bool TryDecodeBase64(ReadOnlySpan<byte> text, out byte[] bytes)
    {
        bytes = [];
        if (text.IndexOfAnyInRange((byte)0, (byte)' ') >= 0 || text.Length % 4 != 0) return false;
        var padding = text.Length == 0 ? 0 : text[^1] != (byte)'=' ? 0 : text[^2] == (byte)'=' ? 2 : 1;
        var decoded = new byte[text.Length / 4 * 3 - padding];
        if (Base64.DecodeFromUtf8(text, decoded, out var consumed, out var written) != OperationStatus.Done
            || consumed != text.Length || written != decoded.Length)
        {
            return false;
        }
        bytes = decoded;
        return true;
    }

    /// <summary>
    /// The JSON number <paramref name="number"/> (its text as the JSON grammar allows it) as a decimal of the scale its text
    /// has (trailing zeros kept up to <paramref name="scale"/>; an exponent moves the point), when it holds no more than
    /// <paramref name="scale"/> digits after the point and <paramref name="precision"/> − <paramref name="scale"/> before it
    /// (leading and trailing zeros aside), and a .NET decimal holds it exactly; false otherwise. No double on the way.
    /// </summary>
    public static bool TryParseDecimal(ReadOnlySpan<byte> number, int precision, int scale, out decimal value) =>
        ParseDecimal(number, precision, scale, out value) == DecimalText.Fits;

    /// <summary>What <see cref="TryParseDecimal"/> made of a JSON number, for messages.</summary>
    public enum DecimalText
    {
        Fits,
        /// <summary>Not a JSON number's text.</summary>
        NotANumber,
        /// <summary>More digits after the point than the scale, or before it than precision − scale, allow.</summary>
        TooManyDigits,
        /// <summary>Within the column's precision and scale, but beyond what one .NET <see cref="decimal"/> holds exactly.</summary>
        BeyondDotNetDecimal,
    }

    /// <summary>As <see cref="TryParseDecimal"/>, saying why a number does not fit.</summary>
    public static DecimalText ParseDecimal(ReadOnlySpan<byte> number, int precision, int scale, out decimal value)
    {
        value = 0;
        var position = 0;
        var negative = number.Length > 0 && number[0] == (byte)'-';
        if (negative) position++;
        var integerStart = position;
        while (position < number.Length && char.IsAsciiDigit((char)number[position])) position++;
        var integerDigits = number[integerStart..position];
        ReadOnlySpan<byte> fractionDigits = default;
        if (position < number.Length && number[position] == (byte)'.')
        {
            var fractionStart = ++position;
            while (position < number.Length && char.IsAsciiDigit((char)number[position])) position++;
            fractionDigits = number[fractionStart..position];
        }
        long exponent = 0;
        if (position < number.Length && (number[position] | 0x20) == (byte)'e')
        {
            position++;
            var exponentNegative = position < number.Length && number[position] == (byte)'-';
            if (position < number.Length && number[position] is (byte)'+' or (byte)'-') position++;
            if (position == number.Length) return DecimalText.NotANumber;
            for (; position < number.Length; position++)
            {
                if (!char.IsAsciiDigit((char)number[position])) return DecimalText.NotANumber;
                // Past a million the number has far more digits than any decimal (or is zero, which the digits show).
                exponent = Math.Min(exponent * 10 + (number[position] - '0'), 1_000_000);
            }
            if (exponentNegative) exponent = -exponent;
        }
        if (position != number.Length || integerDigits.Length == 0) return DecimalText.NotANumber;

        // The digits of integer and fraction as one run, read through Digit(i); the value is that run × 10^-textScale.
        var count = integerDigits.Length + fractionDigits.Length;
        static byte Digit(int index, ReadOnlySpan<byte> integer, ReadOnlySpan<byte> fraction) =>
            (byte)((index < integer.Length ? integer[index] : fraction[index - integer.Length]) - '0');
        var first = 0;
        while (first < count && Digit(first, integerDigits, fractionDigits) == 0) first++;
        var textScale = fractionDigits.Length - exponent;
        var end = count;
        if (first == end)
        {
            // Zero, at the scale its text has, at most the column's.
            value = new decimal(0, 0, 0, false, (byte)Math.Clamp(textScale, 0, Math.Min(scale, 28)));
            return DecimalText.Fits;
        }
        // Trailing zeros past the column's scale say nothing: dropped. Any other digit there needs more scale than it has.
        while (textScale > scale && Digit(end - 1, integerDigits, fractionDigits) == 0)
        {
            end--;
            textScale--;
        }
        if (textScale > scale) return DecimalText.TooManyDigits;
        var significant = end - first;
        if (significant - textScale > precision - scale) return DecimalText.TooManyDigits;   // digits before the point
        UInt128 unscaled = 0;
        for (var i = first; i < end; i++) unscaled = unscaled * 10 + Digit(i, integerDigits, fractionDigits);
        for (; textScale < 0; textScale++) unscaled *= 10;
        if (textScale <= 28 && unscaled >> 96 == 0)
        {
            value = new decimal((int)(uint)unscaled, (int)(uint)(unscaled >> 32), (int)(uint)(unscaled >> 64), negative, (byte)textScale);
            return DecimalText.Fits;
        }
        // Beyond scale 28 or 96 bits: trailing zeros may still make it fit (ParquetSchemaMapping.ToDecimal drops them).
        var exact = ParquetSchemaMapping.ToDecimal(negative ? -(BigInteger)unscaled : (BigInteger)unscaled, (int)textScale);
        if (exact is null) return DecimalText.BeyondDotNetDecimal;
        value = exact.Value;
        return DecimalText.Fits;
    }
}
