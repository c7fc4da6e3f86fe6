using System.Collections;
using System.Text;
using Microsoft.Data.Sqlite;

namespace DatasetExport.Engine.Tests.Destinations;

/// <summary>Checks that secrets appear nowhere a user, a log or the state file could show them.</summary>
internal static class SecretAssert
{
    /// <summary>
    /// Every text reachable from the exception: ToString of the whole chain (aggregates too), each message and the
    /// entries of each exception's Data, which ToString leaves out.
    /// </summary>
    public static string Everything(Exception error)
    {
        var text = new StringBuilder(error.ToString()).AppendLine();
        var pending = new Stack<Exception>([error]);
        while (pending.TryPop(out var current))
        {
            text.AppendLine(current.Message);
            foreach (DictionaryEntry entry in current.Data) text.AppendLine($"{entry.Key}={entry.Value}");
            if (current is AggregateException aggregate) foreach (var inner in aggregate.InnerExceptions) pending.Push(inner);
            else if (current.InnerException is { } inner) pending.Push(inner);
        }
        return text.ToString();
    }

    /// <summary>None of the secrets, as they are or URL-escaped, is in <paramref name="text"/>; empty ones are no secrets.</summary>
    public static void Absent(string text, params string[] secrets)
    {
        foreach (var secret in secrets.Where(secret => secret.Length > 0))
        {
            Assert.DoesNotContain(secret, text, StringComparison.Ordinal);
            Assert.DoesNotContain(Uri.EscapeDataString(secret), text, StringComparison.Ordinal);
        }
    }

    /// <summary>No file below <paramref name="stateHome"/> (state.db, its journal, the key ring) holds a secret in plain text.</summary>
    public static void NotInFiles(string stateHome, params string[] secrets)
    {
        SqliteConnection.ClearAllPools();
        foreach (var file in Directory.EnumerateFiles(stateHome, "*", SearchOption.AllDirectories))
        {
            Absent(Encoding.Latin1.GetString(File.ReadAllBytes(file)), secrets);
        }
    }
}
