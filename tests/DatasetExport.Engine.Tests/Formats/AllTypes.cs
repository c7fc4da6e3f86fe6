using System.Globalization;
using System.Text;
using DatasetExport.Engine.Formats;
using Record = DatasetExport.Engine.Formats.Record;

namespace DatasetExport.Engine.Tests.Formats;

/// <summary>
/// One table with every type, defined twice from the row number i: as DuckDB SQL (which writes the fixtures) and
/// as the C# records our reader must produce. Each side is computed independently of our code.
/// </summary>
internal static class AllTypes
{
    public const int RowGroupRows = 2048;

    public static string SelectSql(int rows) => $$$"""
        SELECT
          i AS id,
          (i % 100 - 50)::TINYINT AS t8,
          (i * 3)::SMALLINT AS s16,
          (i * 1000 - 7)::INTEGER AS i32,
          (i * 10000000000)::BIGINT AS i64,
          (i % 200)::UTINYINT AS u8,
          (i * 13)::USMALLINT AS u16,
          (i + 4000000000)::UINTEGER AS u32,
          (18446744073709551615 - i)::UBIGINT AS u64,
          (i + 0.5)::FLOAT AS f,
          (i::DOUBLE / 4) AS d,
          (i::DECIMAL(18,2) * 1.25)::DECIMAL(18,2) AS dec18,
          ((CASE WHEN i % 2 = 1 THEN '-' ELSE '' END) || '123456789012345.' || lpad(i::VARCHAR, 10, '0'))::DECIMAL(38,10) AS dec38,
          ('str' || i || ' ü "q"') AS s,
          ('b' || i)::BLOB AS bl,
          DATE '2024-01-02' + i::INTEGER AS dt,
          TIMESTAMP '2024-01-02 03:04:05.123456' + to_seconds(i) AS ts,
          to_timestamp(1704164645.5 + i) AS tstz,
          (TIMESTAMP '2024-01-02 03:04:05.123' + to_seconds(i))::TIMESTAMP_MS AS tsms,
          TIMESTAMP_NS '2024-01-02 03:04:05.123456789' AS tsns,
          TIME '12:34:56.789012' + to_seconds(i % 60) AS tm,
          {'a': i, 'b': 'x' || i, 'c': {'d': [i, i + 1]}} AS st,
          CASE i % 3 WHEN 0 THEN [i, NULL, i + 2] WHEN 1 THEN NULL ELSE [] END AS lst,
          [{'k': i}, NULL] AS lstst,
          CASE WHEN i % 4 = 0 THEN NULL ELSE {'p': CASE WHEN i % 8 = 1 THEN NULL ELSE i END} END AS stnull,
          [[i], [], NULL] AS lstlst,
          CASE WHEN i % 5 = 0 THEN NULL ELSE MAP {'k1': i, 'k2': NULL} END AS mp,
          CASE WHEN i % 2 = 0 THEN NULL ELSE i END AS nul,
          i % 2 = 0 AS bo
        FROM range({{{rows}}}) r(i)
        """;

    /// <summary>Writes the table as Parquet with DuckDB, several row groups.</summary>
    public static void WriteParquet(DuckDb duck, string path, int rows, string codec = "snappy") =>
        duck.Execute($"COPY ({SelectSql(rows)}) TO {DuckDb.Quote(path)} (FORMAT parquet, ROW_GROUP_SIZE {RowGroupRows}, COMPRESSION {codec})");

    public static readonly DatasetSchema Schema = new(
    [
        new SchemaField("id", FieldKind.Int64),
        new SchemaField("t8", FieldKind.Int32),
        new SchemaField("s16", FieldKind.Int32),
        new SchemaField("i32", FieldKind.Int32),
        new SchemaField("i64", FieldKind.Int64),
        new SchemaField("u8", FieldKind.Int32),
        new SchemaField("u16", FieldKind.Int32),
        new SchemaField("u32", FieldKind.Int64),
        new SchemaField("u64", FieldKind.Decimal, Precision: 20, Scale: 0),
        new SchemaField("f", FieldKind.Float),
        new SchemaField("d", FieldKind.Double),
        new SchemaField("dec18", FieldKind.Decimal, Precision: 18, Scale: 2),
        new SchemaField("dec38", FieldKind.Decimal, Precision: 38, Scale: 10),
        new SchemaField("s", FieldKind.String),
        new SchemaField("bl", FieldKind.Binary),
        new SchemaField("dt", FieldKind.Date),
        new SchemaField("ts", FieldKind.Timestamp),
        new SchemaField("tstz", FieldKind.Timestamp),
        new SchemaField("tsms", FieldKind.Timestamp),
        new SchemaField("tsns", FieldKind.Timestamp),
        new SchemaField("tm", FieldKind.Time),
        new SchemaField("st", FieldKind.Struct, Children:
        [
            new SchemaField("a", FieldKind.Int64),
            new SchemaField("b", FieldKind.String),
            new SchemaField("c", FieldKind.Struct, Children: [new SchemaField("d", FieldKind.List, Children: [new SchemaField("element", FieldKind.Int64)])]),
        ]),
        new SchemaField("lst", FieldKind.List, Children: [new SchemaField("element", FieldKind.Int64)]),
        new SchemaField("lstst", FieldKind.List, Children: [new SchemaField("element", FieldKind.Struct, Children: [new SchemaField("k", FieldKind.Int64)])]),
        new SchemaField("stnull", FieldKind.Struct, Children: [new SchemaField("p", FieldKind.Int64)]),
        new SchemaField("lstlst", FieldKind.List, Children:
            [new SchemaField("element", FieldKind.List, Children: [new SchemaField("element", FieldKind.Int64)])]),
        new SchemaField("mp", FieldKind.Map, Children: [new SchemaField("key", FieldKind.String, Nullable: false), new SchemaField("value", FieldKind.Int64)]),
        new SchemaField("nul", FieldKind.Int64),
        new SchemaField("bo", FieldKind.Boolean),
    ]);

    private static readonly DateTime BaseTimestamp = new DateTime(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc);

    public static Record Expected(long i)
    {
        var record = new Record
        {
            ["id"] = i,
            ["t8"] = (int)(i % 100 - 50),
            ["s16"] = (int)(i * 3),
            ["i32"] = (int)(i * 1000 - 7),
            ["i64"] = i * 10_000_000_000,
            ["u8"] = (int)(i % 200),
            ["u16"] = (int)(i * 13),
            ["u32"] = i + 4_000_000_000,
            ["u64"] = 18446744073709551615m - i,
            ["f"] = i + 0.5f,
            ["d"] = i / 4.0,
            ["dec18"] = i * 1.25m,
            ["dec38"] = decimal.Parse((i % 2 == 1 ? "-" : "") + "123456789012345." + i.ToString("D10", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture),
            ["s"] = $"str{i} ü \"q\"",
            ["bl"] = Encoding.ASCII.GetBytes($"b{i}"),
            ["dt"] = new DateOnly(2024, 1, 2).AddDays((int)i),
            ["ts"] = BaseTimestamp.AddTicks(1_234_560).AddSeconds(i),
            ["tstz"] = BaseTimestamp.AddMilliseconds(500).AddSeconds(i),
            ["tsms"] = BaseTimestamp.AddMilliseconds(123).AddSeconds(i),
            // Nanoseconds are cut to .NET's 100 ns ticks.
            ["tsns"] = BaseTimestamp.AddTicks(1_234_567),
            ["tm"] = new TimeSpan(0, 12, 34, 56).Add(TimeSpan.FromTicks(7_890_120)).Add(TimeSpan.FromSeconds(i % 60)),
            ["st"] = Struct(("a", i), ("b", $"x{i}"), ("c", Struct(("d", List(i, i + 1))))),
            ["lst"] = (i % 3) switch { 0 => List(i, null, i + 2), 1 => null, _ => List() },
            ["lstst"] = List(Struct(("k", i)), null),
            ["stnull"] = i % 4 == 0 ? null : Struct(("p", i % 8 == 1 ? null : i)),
            ["lstlst"] = List(List(i), List(), null),
            ["mp"] = i % 5 == 0 ? null : new List<KeyValuePair<object, object?>> { new("k1", i), new("k2", null) },
            ["nul"] = i % 2 == 0 ? null : i,
            ["bo"] = i % 2 == 0,
        };
        return record;
    }

    public static List<Record> ExpectedRecords(int rows) => Enumerable.Range(0, rows).Select(i => Expected(i)).ToList();

    /// <summary>The records as our Parquet writer stores them: timestamps at microseconds.</summary>
    public static List<Record> ExpectedAfterParquetWrite(int rows) => ExpectedRecords(rows).Select(record =>
    {
        var timestamp = (DateTime)record["tsns"]!;
        record["tsns"] = timestamp.AddTicks(-(timestamp.Ticks % 10));
        return record;
    }).ToList();

    /// <summary>
    /// DuckDB conditions that are true when relation <c>o</c> (our output) equals the original table <c>e</c> column by column.
    /// Types our files store differently are cast: unsigned ints to our wider kinds, timestamps to UTC instants at micros.
    /// DuckDB reads JSON numbers through doubles, so from JSON DECIMAL(38,10) is compared within 0.1 (its exact text is checked separately).
    /// </summary>
    public static IReadOnlyList<string> SameRowConditions(bool fromJson = false) => new[]
    {
        "o.t8 = e.t8", "o.s16 = e.s16", "o.i32 = e.i32", "o.i64 = e.i64", "o.u8 = e.u8", "o.u16 = e.u16", "o.u32 = e.u32", "o.u64 = e.u64",
        "o.f = e.f", "o.d = e.d", "o.dec18 = e.dec18", fromJson ? "abs(o.dec38 - e.dec38) < 0.1" : "o.dec38 = e.dec38", "o.s = e.s",
        fromJson ? "from_base64(o.bl) = e.bl" : "o.bl = e.bl",
        "o.dt = e.dt",
        "epoch_us(o.ts) = epoch_us(e.ts)", "epoch_us(o.tstz) = epoch_us(e.tstz)", "epoch_us(o.tsms) = epoch_us(e.tsms)",
        "epoch_us(o.tsns) = epoch_us(e.tsns::TIMESTAMP)",
        "o.tm = e.tm",
        "o.st IS NOT DISTINCT FROM e.st", "o.lst IS NOT DISTINCT FROM e.lst", "o.lstst IS NOT DISTINCT FROM e.lstst",
        "o.stnull IS NOT DISTINCT FROM e.stnull", "o.lstlst IS NOT DISTINCT FROM e.lstlst", "o.mp IS NOT DISTINCT FROM e.mp",
        "o.nul IS NOT DISTINCT FROM e.nul", "o.bo = e.bo",
    };

    private static Dictionary<string, object?> Struct(params (string Name, object? Value)[] fields) =>
        fields.ToDictionary(field => field.Name, field => field.Value);

    private static List<object?> List(params object?[] items) => [.. items];
}
