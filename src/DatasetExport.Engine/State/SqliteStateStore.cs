namespace DatasetExport.Engine.State;

/// <summary>The embedded state store: one SQLite database in the state home.</summary>
public sealed class SqliteStateStore
{
    // STATE-HELPER: implement IStateStore.
    public static IStateStore Open(string stateHome) => throw new NotImplementedException();
}
