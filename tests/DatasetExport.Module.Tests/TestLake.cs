using System.Globalization;
using System.Text;

namespace DatasetExport.Module.Tests;

/// <summary>Writes a small lake by hand: one folder per dataset holding JSON Lines batch files.</summary>
public static class TestLake
{
    /// <summary>Writes <paramref name="batches"/> files of <paramref name="recordsPerBatch"/> records to lake/datasetId/.</summary>
    public static void WriteJsonLinesDataset(string lakePath, string datasetId, int batches, int recordsPerBatch)
    {
        var folder = Path.Combine(lakePath, datasetId);
        Directory.CreateDirectory(folder);
        for (var batch = 0; batch < batches; batch++)
        {
            var text = new StringBuilder();
            for (var i = 0; i < recordsPerBatch; i++)
            {
                var id = batch * recordsPerBatch + i;
                text.Append(CultureInfo.InvariantCulture,
                    $"{{\"id\":{id},\"customer\":\"customer-{id % 17}\",\"amount\":{id * 1.25:0.00},\"paid\":{(id % 2 == 0 ? "true" : "false")},\"createdAt\":\"2026-01-{1 + id % 28:00}T10:00:00Z\"}}\n");
            }
            File.WriteAllText(Path.Combine(folder, $"batch-{batch:0000}.jsonl"), text.ToString());
        }
    }
}
