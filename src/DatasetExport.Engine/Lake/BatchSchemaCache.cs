using System.Diagnostics.CodeAnalysis;
using DatasetExport.Engine.Formats;

namespace DatasetExport.Engine.Lake;

/// <summary>
/// The schemas (and record counts) of batch files already read, so that listing a lake and then exporting from it, or
/// every scheduled run in a long-lived process, reads an unchanged batch once: inferring a JSON Lines schema parses the
/// whole file. An entry holds while the file keeps its full path, size and last-write time; a file rewritten with
/// another size or time is read again. Entries are kept per <see cref="BatchReadOptions.SkipInvalidRecords"/>, which
/// changes what a JSON Lines schema is inferred from. Failures are not kept, nor files written less than
/// <see cref="SettleTime"/> before their read began: file systems stamp writes with a coarse clock (milliseconds on
/// Linux, 2 s on FAT), so a file rewritten right after its read could keep both its size and its time. Thread-safe;
/// bounded, least recently used entries go first.
/// </summary>
/// <remarks>
/// One per process (<see cref="Shared"/>): the cmdlets open an engine, and the engine a <see cref="FolderLake"/>, per call,
/// so a cache owned by either would not outlive one cmdlet. Beyond the process, a lake opened by the engine keeps the same
/// entries in the state store (<see cref="IBatchSchemaStore"/>).
/// </remarks>
internal sealed class BatchSchemaCache
{
    public const int DefaultCapacity = 10_000;

    public static BatchSchemaCache Shared { get; } = new(DefaultCapacity);

    public static readonly TimeSpan SettleTime = TimeSpan.FromSeconds(3);

    private readonly int _capacity;
    private readonly object _gate = new();
    private readonly Dictionary<(string FullPath, bool SkipInvalidRecords), LinkedListNode<KnownBatchSchema>> _entries = [];
    private readonly LinkedList<KnownBatchSchema> _recentFirst = new();

    public BatchSchemaCache(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _capacity = capacity;
    }

    /// <summary>The batch's schema and record count as read before, if its file is unchanged since.</summary>
    public bool TryGet(BatchInfo batch, bool skipInvalidRecords, [MaybeNullWhen(false)] out KnownBatchSchema known)
    {
        lock (_gate)
        {
            // A schema read strictly is also the lenient one: a strict read fails at the first line leniency would skip.
            if (TryGetCurrent(batch, skipInvalidRecords, out var entry) || (skipInvalidRecords && TryGetCurrent(batch, false, out entry)))
            {
                _recentFirst.Remove(entry);
                _recentFirst.AddFirst(entry);
                known = entry.Value;
                return true;
            }
        }
        known = null;
        return false;
    }

    /// <summary>Whether a read of <paramref name="batch"/> that began at <paramref name="readStarted"/> may be kept: its file was not written just before.</summary>
    public static bool IsSettled(BatchInfo batch, DateTimeOffset readStarted) => batch.LastWriteUtc <= readStarted - SettleTime;

    /// <summary>Keeps a settled read's result (<see cref="IsSettled"/>; or one kept by the state store, <see cref="IBatchSchemaStore"/>).</summary>
    public void Remember(KnownBatchSchema known)
    {
        var key = (known.FullPath, known.SkipInvalidRecords);
        lock (_gate)
        {
            if (_entries.Remove(key, out var stale)) _recentFirst.Remove(stale);
            _entries[key] = _recentFirst.AddFirst(known);
            if (_entries.Count > _capacity)
            {
                var oldest = _recentFirst.Last!.Value;
                _entries.Remove((oldest.FullPath, oldest.SkipInvalidRecords));
                _recentFirst.RemoveLast();
            }
        }
    }

    private bool TryGetCurrent(BatchInfo batch, bool skipInvalidRecords, out LinkedListNode<KnownBatchSchema> entry) =>
        _entries.TryGetValue((batch.FullPath, skipInvalidRecords), out entry!) && entry.Value.Describes(batch);
}
