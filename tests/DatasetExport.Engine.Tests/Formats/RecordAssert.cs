using System.Collections;
using DatasetExport.Engine.Formats;
using Record = DatasetExport.Engine.Formats.Record;

namespace DatasetExport.Engine.Tests.Formats;

/// <summary>Deep comparison of record values with the types FieldKind documents; failures name the path.</summary>
internal static class RecordAssert
{
    public static void Equal(IReadOnlyList<Record> expected, IReadOnlyList<Record> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (var i = 0; i < expected.Count; i++) Equal(expected[i], actual[i], $"record {i}");
    }

    public static void Equal(Record expected, Record actual, string path)
    {
        Assert.True(expected.Keys.SequenceEqual(actual.Keys),
            $"{path}: columns [{string.Join(",", actual.Keys)}], expected [{string.Join(",", expected.Keys)}]");
        foreach (var (name, value) in expected) Value(value, actual[name], $"{path}.{name}");
    }

    public static void Value(object? expected, object? actual, string path)
    {
        switch (expected)
        {
            case null:
                Assert.True(actual is null, $"{path}: expected null, got {actual}");
                return;
            case byte[] bytes:
                Assert.True(actual is byte[] actualBytes && bytes.SequenceEqual(actualBytes), $"{path}: bytes differ");
                return;
            case DateTime timestamp:
                Assert.True(actual is DateTime other && other == timestamp && other.Kind == DateTimeKind.Utc,
                    $"{path}: expected {timestamp:O} (Utc), got {(actual is DateTime d ? d.ToString("O") + " " + d.Kind : actual)}");
                return;
            case IReadOnlyDictionary<string, object?> fields:
                var actualFields = Assert.IsAssignableFrom<IReadOnlyDictionary<string, object?>>(actual);
                Assert.True(fields.Keys.SequenceEqual(actualFields.Keys), $"{path}: fields [{string.Join(",", actualFields.Keys)}], expected [{string.Join(",", fields.Keys)}]");
                foreach (var (name, value) in fields) Value(value, actualFields[name], $"{path}.{name}");
                return;
            case IReadOnlyList<KeyValuePair<object, object?>> entries:
                var actualEntries = Assert.IsAssignableFrom<IReadOnlyList<KeyValuePair<object, object?>>>(actual);
                Assert.True(entries.Count == actualEntries.Count, $"{path}: {actualEntries.Count} map entries, expected {entries.Count}");
                for (var i = 0; i < entries.Count; i++)
                {
                    Value(entries[i].Key, actualEntries[i].Key, $"{path}[{i}].key");
                    Value(entries[i].Value, actualEntries[i].Value, $"{path}[{i}].value");
                }
                return;
            case IReadOnlyList<object?> items:
                var actualItems = Assert.IsAssignableFrom<IReadOnlyList<object?>>(actual);
                Assert.True(items.Count == actualItems.Count, $"{path}: {actualItems.Count} items, expected {items.Count}");
                for (var i = 0; i < items.Count; i++) Value(items[i], actualItems[i], $"{path}[{i}]");
                return;
            default:
                Assert.True(actual is not null && actual.GetType() == expected.GetType() && expected.Equals(actual),
                    $"{path}: expected {expected} ({expected.GetType().Name}), got {actual} ({actual?.GetType().Name})");
                return;
        }
    }

    public static async Task<List<Record>> ReadAllAsync(IBatchReader reader, string path, bool gzipped, DatasetSchema schema)
    {
        var records = new List<Record>();
        await foreach (var chunk in reader.ReadAsync(path, gzipped, schema, CancellationToken.None)) records.AddRange(chunk.Records);
        return records;
    }
}
