using System.IO.Compression;
using System.Text;
using System.Text.Json;

namespace DatasetExport.Engine.Tests;

/// <summary>Builds small lakes of JSON Lines batches for tests; every record is known, so exports can be compared.</summary>
public static class SampleLake
{
    /// <summary>Writes <paramref name="count"/> web-event records starting at <paramref name="firstId"/>.</summary>
    public static void WriteEvents(string path, int firstId, int count, bool gzip = false)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var file = File.Create(path);
        using Stream output = gzip ? new GZipStream(file, CompressionLevel.Fastest) : file;
        using var writer = new StreamWriter(output, new UTF8Encoding(false));
        for (var id = firstId; id < firstId + count; id++)
        {
            writer.Write(EventJson(id));
            writer.Write('\n');
        }
    }

    public static string EventJson(int id) => JsonSerializer.Serialize(new
    {
        id,
        user = $"user-{id % 97}",
        url = $"https://example.com/page/{id % 13}?q={id}",
        score = id * 0.5,
        active = id % 2 == 0,
        tags = new[] { "t" + (id % 3), "x" },
        geo = new { country = id % 2 == 0 ? "FR" : "DE", city = (string?)(id % 5 == 0 ? null : "c" + id % 7) },
    });

    /// <summary>Reads every record of a JSON Lines file (gzip by name), as compact JSON text per line.</summary>
    public static List<string> ReadJsonLines(string path)
    {
        using var file = File.OpenRead(path);
        using Stream input = path.EndsWith(".gz", StringComparison.Ordinal) ? new GZipStream(file, CompressionMode.Decompress) : file;
        using var reader = new StreamReader(input, Encoding.UTF8);
        var lines = new List<string>();
        while (reader.ReadLine() is { } line)
        {
            if (line.Length > 0) lines.Add(line);
        }
        return lines;
    }

    /// <summary>The ids of the records in JSON lines.</summary>
    public static List<long> Ids(IEnumerable<string> jsonLines) =>
        jsonLines.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("id").GetInt64()).ToList();
}
