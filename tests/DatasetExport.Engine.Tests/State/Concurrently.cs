using System.Collections.Concurrent;

namespace DatasetExport.Engine.Tests.State;

internal static class Concurrently
{
    /// <summary>
    /// Runs <paramref name="body"/> on <paramref name="count"/> dedicated threads released at the same moment (no
    /// thread-pool ramp-up in between), waits for all, and rethrows whatever any of them threw.
    /// </summary>
    public static void Run(int count, Action<int> body)
    {
        using var start = new Barrier(count);
        var errors = new ConcurrentQueue<Exception>();
        var threads = Enumerable.Range(0, count).Select(index => new Thread(() =>
        {
            try
            {
                start.SignalAndWait();
                body(index);
            }
            catch (Exception error)
            {
                errors.Enqueue(error);
            }
        })).ToList();
        threads.ForEach(thread => thread.Start());
        threads.ForEach(thread => thread.Join());
        if (!errors.IsEmpty) throw new AggregateException(errors);
    }
}
