using System.Text;
using System.Text.Json;
using DatasetExport.Engine.Formats;

namespace DatasetExport.Engine.Tests.Formats;

/// <summary>
/// Schema inference splits a line with its own scanner (<see cref="JsonSchemaInference.LineTokens"/>) and leaves every
/// line it is not sure of to <see cref="Utf8JsonReader"/>: whenever it takes a line, the line must be valid JSON to that
/// reader and its tokens the reader's (kinds, property names and strings byte for byte, which numbers fit an int64).
/// </summary>
public sealed class JsonLineTokensTests
{
    private static readonly string[] Taken =
    [
        """{}""",
        """ { "a" : 1 , "b":[ ] ,"c":{ } } """,
        "{\t\"a\":\t-0}",
        """{"id":"evt-1","n":200,"d":17882,"p":834.04,"bot":true,"no":false,"x":null,"geo":{"c":"IN","lat":-41.075},"tags":["a","b"]}""",
        """{"s":"quote \" backslash \\ slash \/ \b\f\n\r\t \u00e9 \uD83D\uDE00 lone \uDC00 \u0000"}""",
        """{"é":"ünïcödé ✓ 😀","日本":"語"}""",
        """{"":"empty name","e":""}""",
        """{"n":[0,-1,1.5,-0.25,1e3,1E-3,2.5e+10,12345678901234567890,9223372036854775807,-9223372036854775808,9223372036854775808,-9223372036854775809,1000000000000000000,-0.0]}""",
        """{"deep":[[[{"a":[{"b":{"c":[1,[2,[3]]]}}]}]]]}""",
        """{"a":1,"a":"twice: tokens only, the conflict is the caller's"}""",
        """{"long":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"bbbbbbbbbbbbbbbbbbbbbbbbbbbb\\"}""",
    ];

    /// <summary>Left to the reader: invalid JSON, or valid JSON the scanner does not take (escaped names, not an object).</summary>
    private static readonly string[] LeftToTheReader =
    [
        "", "   ", "[1]", "\"s\"", "1", "null", "{", "}", """{"a":1""", """{"a":1,}""", """{"a":1}{"b":2}""", """{"a":1} x""",
        """{"a" 1}""", """{a:1}""", """{'a':1}""", """{"a":tru}""", """{"a":truex}""", """{"a":nul}""", """{"a":01}""",
        """{"a":1.}""", """{"a":.5}""", """{"a":1e}""", """{"a":1e+}""", """{"a":-}""", """{"a":+1}""", """{"a":0x10}""",
        """{"a":NaN}""", """{"a":[1,]}""", """{"a":[1 2]}""", """{"a":"\x"}""", """{"a":"\u12G4"}""", """{"a":"\u12"}""",
        "{\"a\":\"tab\there\"}", "{\"a\":\"nul\0\"}", """{"a\"b":1}""", """{"\u0061":1}""", "{\"a\":1}\u00A0",
        "{\"a\":" + string.Concat(Enumerable.Repeat("[", 40)) + string.Concat(Enumerable.Repeat("]", 40)) + "}",
        """{"a":"unterminated}""", """{"a":1 /* comment */}""",
    ];

    public static TheoryData<string> TakenLines => new(Taken);
    public static TheoryData<string> LinesLeftToTheReader => new(LeftToTheReader);

    [Theory]
    [MemberData(nameof(TakenLines))]
    public void A_line_it_takes_gives_the_readers_tokens(string line)
    {
        var bytes = Encoding.UTF8.GetBytes(line);
        var tokens = new JsonSchemaInference.LineTokens();

        Assert.True(tokens.TryScan(bytes));
        Assert.Equal(ReaderTokens(bytes), ScannedTokens(tokens, bytes));
    }

    [Theory]
    [MemberData(nameof(LinesLeftToTheReader))]
    public void A_line_it_is_not_sure_of_is_left_to_the_reader(string line)
    {
        Assert.False(new JsonSchemaInference.LineTokens().TryScan(Encoding.UTF8.GetBytes(line)));
    }

    /// <summary>
    /// Valid lines with bytes changed, dropped or repeated at random: whatever the scanner takes, the reader reads whole
    /// into the same tokens. Most mutations break the JSON; enough keep it valid to exercise both sides.
    /// </summary>
    [Fact]
    public void Mutated_lines_are_taken_only_when_the_reader_gives_the_same_tokens()
    {
        var random = new Random(20261126);
        var alphabet = Encoding.UTF8.GetBytes("{}[]:,\"\\/ \t0123456789.-+eEtrufalsn bfu\u00e9x");
        var tokens = new JsonSchemaInference.LineTokens();
        int taken = 0, refused = 0;
        for (var i = 0; i < 20_000; i++)
        {
            var bytes = Encoding.UTF8.GetBytes(Taken[random.Next(Taken.Length)]).ToList();
            for (var edits = random.Next(1, 3); edits > 0 && bytes.Count > 0; edits--)
            {
                var at = random.Next(bytes.Count);
                switch (random.Next(3))
                {
                    case 0: bytes[at] = alphabet[random.Next(alphabet.Length)]; break;
                    case 1: bytes.RemoveAt(at); break;
                    default: bytes.Insert(at, bytes[at]); break;
                }
            }
            var line = bytes.ToArray();
            if (!System.Text.Unicode.Utf8.IsValid(line)) continue;   // the line reader refuses these first
            if (tokens.TryScan(line))
            {
                taken++;
                Assert.Equal(ReaderTokens(line), ScannedTokens(tokens, line));
            }
            else
            {
                refused++;
            }
        }
        Assert.True(taken > 1000 && refused > 1000, $"taken {taken}, refused {refused}");
    }

    /// <summary>The reader's tokens as text: kind, raw value (names and strings without quotes), and for numbers whether TryGetInt64 succeeds.</summary>
    private static List<string> ReaderTokens(byte[] line)
    {
        var reader = new Utf8JsonReader(line);
        var tokens = new List<string>();
        while (reader.Read())
        {
            var fitsInt64 = reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out _);
            tokens.Add(Describe(reader.TokenType, reader.ValueSpan, fitsInt64));
        }
        return tokens;
    }

    private static List<string> ScannedTokens(JsonSchemaInference.LineTokens tokens, byte[] line)
    {
        var scanned = new List<string>();
        for (var i = 0; i < tokens.Count; i++)
        {
            var token = tokens[i];
            scanned.Add(Describe(token.Kind, line.AsSpan(token.Start, token.Length), token.IsInt64));
        }
        return scanned;
    }

    private static string Describe(JsonTokenType kind, ReadOnlySpan<byte> value, bool fitsInt64) => kind switch
    {
        JsonTokenType.PropertyName or JsonTokenType.String => $"{kind} {Convert.ToHexString(value)}",
        JsonTokenType.Number => $"{kind} {Encoding.UTF8.GetString(value)} int64={fitsInt64}",
        _ => kind.ToString(),
    };
}
