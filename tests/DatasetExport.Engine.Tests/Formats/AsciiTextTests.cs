using System.Text;
using DatasetExport.Engine.Formats;

namespace DatasetExport.Engine.Tests.Formats;

/// <summary><see cref="AsciiText"/>: ASCII text of any length converts as UTF-8 does, and any other char anywhere is refused.</summary>
public sealed class AsciiTextTests
{
    [Fact]
    public void Ascii_widens_and_narrows_as_UTF8_does_and_anything_else_is_refused_wherever_it_is()
    {
        var random = new Random(7);
        string[] others = ["é", "\u0080", "日", "😀", "\uFFFD", "\u007F\u0080"];
        for (var length = 0; length <= 70; length++)
        {
            var ascii = new string(Enumerable.Range(0, length).Select(_ => (char)random.Next(0, 0x80)).ToArray());
            AssertConverts(ascii, expectAscii: true);
            for (var position = 0; position < length; position++)
            {
                var other = others[(length + position) % others.Length];
                AssertConverts(ascii[..position] + other + ascii[position..], expectAscii: false);
            }
        }
    }

    private static void AssertConverts(string text, bool expectAscii)
    {
        var utf8 = Encoding.UTF8.GetBytes(text);
        // Room to spare: nothing may be written past the text.
        var chars = new char[utf8.Length + 20];
        Assert.Equal(expectAscii, AsciiText.TryWiden(utf8, chars));
        var bytes = new byte[text.Length + 20];
        Assert.Equal(expectAscii, AsciiText.TryNarrow(text, bytes));
        if (!expectAscii) return;
        Assert.Equal(text, new string(chars, 0, utf8.Length));
        Assert.All(chars[utf8.Length..], c => Assert.Equal('\0', c));
        Assert.Equal(utf8, bytes[..text.Length]);
        Assert.All(bytes[text.Length..], b => Assert.Equal(0, b));
    }

    [Fact]
    public void A_target_shorter_than_the_text_is_refused()
    {
        Assert.Throws<ArgumentException>(() => AsciiText.TryWiden("abc"u8, new char[2]));
        Assert.Throws<ArgumentException>(() => AsciiText.TryNarrow("abc", new byte[2]));
    }
}
