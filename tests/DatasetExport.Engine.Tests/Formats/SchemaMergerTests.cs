using DatasetExport.Engine.Formats;

namespace DatasetExport.Engine.Tests.Formats;

public sealed class SchemaMergerTests
{
    private static DatasetSchema Schema(params SchemaField[] fields) => new(fields);

    private static SchemaField Field(string name, FieldKind kind, bool nullable = false, int precision = 0, int scale = 0, params SchemaField[] children) =>
        new(name, kind, nullable, precision, scale, children.Length == 0 ? null : children);

    [Theory]
    [InlineData(FieldKind.Int32, FieldKind.Int64, FieldKind.Int64)]
    [InlineData(FieldKind.Int64, FieldKind.Int32, FieldKind.Int64)]
    [InlineData(FieldKind.Float, FieldKind.Double, FieldKind.Double)]
    [InlineData(FieldKind.Int32, FieldKind.Double, FieldKind.Double)]
    [InlineData(FieldKind.Int64, FieldKind.Float, FieldKind.Double)]
    [InlineData(FieldKind.String, FieldKind.String, FieldKind.String)]
    [InlineData(FieldKind.Timestamp, FieldKind.Timestamp, FieldKind.Timestamp)]
    public void Scalars_widen(FieldKind first, FieldKind second, FieldKind merged)
    {
        var result = SchemaMerger.Merge(Schema(Field("c", first)), Schema(Field("c", second)));

        Assert.Equal(Schema(Field("c", merged)), result);
    }

    [Fact]
    public void Decimals_widen_to_hold_both_and_ints_join_decimals()
    {
        Assert.Equal(Schema(Field("d", FieldKind.Decimal, precision: 20, scale: 4)),
            SchemaMerger.Merge(Schema(Field("d", FieldKind.Decimal, precision: 18, scale: 2)), Schema(Field("d", FieldKind.Decimal, precision: 10, scale: 4))));
        Assert.Equal(Schema(Field("d", FieldKind.Decimal, precision: 21, scale: 2)),
            SchemaMerger.Merge(Schema(Field("d", FieldKind.Int64)), Schema(Field("d", FieldKind.Decimal, precision: 5, scale: 2))));
        var tooWide = Assert.Throws<SchemaConflictException>(() =>
            SchemaMerger.Merge(Schema(Field("d", FieldKind.Decimal, precision: 38, scale: 0)), Schema(Field("d", FieldKind.Decimal, precision: 38, scale: 10))));
        Assert.Contains("decimal(38,0)", tooWide.Message);
        Assert.Contains("decimal(38,10)", tooWide.Message);
    }

    [Fact]
    public void Columns_missing_on_one_side_become_nullable_and_keep_first_order()
    {
        var result = SchemaMerger.Merge(
            Schema(Field("a", FieldKind.Int64), Field("b", FieldKind.String)),
            Schema(Field("c", FieldKind.Boolean), Field("a", FieldKind.Int32, nullable: true)));

        Assert.Equal(Schema(Field("a", FieldKind.Int64, nullable: true), Field("b", FieldKind.String, nullable: true), Field("c", FieldKind.Boolean, nullable: true)), result);
    }

    [Fact]
    public void Nested_fields_merge_recursively()
    {
        var first = Schema(
            Field("s", FieldKind.Struct, children: [Field("x", FieldKind.Int32), Field("y", FieldKind.String)]),
            Field("l", FieldKind.List, children: [Field("element", FieldKind.Float)]),
            Field("m", FieldKind.Map, children: [Field("key", FieldKind.String), Field("value", FieldKind.Int32)]));
        var second = Schema(
            Field("s", FieldKind.Struct, children: [Field("x", FieldKind.Int64), Field("z", FieldKind.Date)]),
            Field("l", FieldKind.List, children: [Field("element", FieldKind.Double, nullable: true)]),
            Field("m", FieldKind.Map, children: [Field("key", FieldKind.String), Field("value", FieldKind.Int64)]));

        var result = SchemaMerger.Merge([first, second, first]);

        Assert.Equal(Schema(
            Field("s", FieldKind.Struct, children: [Field("x", FieldKind.Int64), Field("y", FieldKind.String, nullable: true), Field("z", FieldKind.Date, nullable: true)]),
            Field("l", FieldKind.List, children: [Field("element", FieldKind.Double, nullable: true)]),
            Field("m", FieldKind.Map, children: [Field("key", FieldKind.String), Field("value", FieldKind.Int64)])), result);
    }

    [Theory]
    [InlineData(FieldKind.String, FieldKind.Int64, "string", "int64")]
    [InlineData(FieldKind.Date, FieldKind.Timestamp, "date", "timestamp")]
    [InlineData(FieldKind.Boolean, FieldKind.Int32, "boolean", "int32")]
    [InlineData(FieldKind.Decimal, FieldKind.Double, "decimal(10,2)", "double")]
    public void Incompatible_types_name_the_column_and_both_types(FieldKind first, FieldKind second, string firstName, string secondName)
    {
        var error = Assert.Throws<SchemaConflictException>(() => SchemaMerger.Merge(
            Schema(Field("c", first, precision: first == FieldKind.Decimal ? 10 : 0, scale: first == FieldKind.Decimal ? 2 : 0)),
            Schema(Field("c", second))));

        Assert.Equal("c", error.ColumnPath);
        Assert.Contains("'c'", error.Message);
        Assert.Contains(firstName, error.Message);
        Assert.Contains(secondName, error.Message);
    }

    [Fact]
    public void A_string_json_inference_only_saw_as_null_takes_the_other_sides_kind()
    {
        var nulls = new SchemaField("v", FieldKind.String, Nullable: true) { OnlyNulls = true };
        var emptyLists = new SchemaField("tags", FieldKind.List, Nullable: false, Children: [new SchemaField("element", FieldKind.String) { OnlyNulls = true }]);
        var typed = Schema(Field("v", FieldKind.Decimal, precision: 10, scale: 2), Field("tags", FieldKind.List, children: Field("element", FieldKind.Int64)));

        var merged = SchemaMerger.Merge(Schema(nulls, emptyLists), typed);

        Assert.Equal("v decimal(10,2), tags list<int64>", merged.ToString());
        Assert.True(merged.Fields[0].Nullable);
        Assert.False(merged.Fields[0].OnlyNulls);
        Assert.Equal(merged, SchemaMerger.Merge(typed, Schema(nulls, emptyLists)));
        // With a real string it is that string; with another of its own, still unknown; alone, a nullable string.
        Assert.False(SchemaMerger.Merge(Schema(nulls), Schema(Field("v", FieldKind.String))).Fields[0].OnlyNulls);
        Assert.True(SchemaMerger.Merge(Schema(nulls), Schema(nulls)).Fields[0].OnlyNulls);
        // Was a conflict (string vs int32): a JSON field only ever null beside a Parquet UNKNOWN column, neither telling a kind.
        var unknown = new SchemaField("v", FieldKind.Int32, Nullable: true) { OnlyNulls = true };
        var neither = SchemaMerger.Merge(Schema(nulls), Schema(unknown)).Fields[0];
        Assert.Equal((FieldKind.String, true, true), (neither.Kind, neither.Nullable, neither.OnlyNulls));
        Assert.Equal(FieldKind.Int64, SchemaMerger.Merge([Schema(unknown), Schema(nulls), Schema(Field("v", FieldKind.Int64))]).Fields[0].Kind);
        Assert.Throws<SchemaConflictException>(() => SchemaMerger.Merge(Schema(Field("v", FieldKind.String, nullable: true)), typed));
    }

    [Fact]
    public void A_nested_conflict_names_the_path()
    {
        var error = Assert.Throws<SchemaConflictException>(() => SchemaMerger.Merge(
            Schema(Field("s", FieldKind.Struct, children: [Field("tags", FieldKind.List, children: [Field("element", FieldKind.String)])])),
            Schema(Field("s", FieldKind.Struct, children: [Field("tags", FieldKind.List, children: [Field("element", FieldKind.Struct, children: [Field("k", FieldKind.Int32)])])]))));

        Assert.Equal("s.tags[]", error.ColumnPath);
        Assert.Contains("struct<k:int32>", error.Message);
    }

    [Fact]
    public void Struct_and_list_do_not_merge()
    {
        var error = Assert.Throws<SchemaConflictException>(() => SchemaMerger.Merge(
            Schema(Field("x", FieldKind.Struct, children: [Field("a", FieldKind.Int32)])),
            Schema(Field("x", FieldKind.List, children: [Field("element", FieldKind.Int32)]))));

        Assert.Contains("list<int32>", error.Message);
    }

    [Fact]
    public void An_empty_list_of_schemas_is_refused()
    {
        Assert.Throws<ArgumentException>(() => SchemaMerger.Merge(Array.Empty<DatasetSchema>()));
    }

    /// <summary>The schema JSON inference gives these lines (a JSON Lines batch of them).</summary>
    private static DatasetSchema Inferred(params string[] lines)
    {
        using var folder = new TempFolder("de-merge-json");
        var path = folder.Combine("batch.jsonl");
        File.WriteAllLines(path, lines);
        return new JsonLinesBatchReader().ReadSchemaAsync(path, false, default).GetAwaiter().GetResult();
    }

    [Fact]
    public void A_json_string_number_or_object_takes_a_declared_timestamp_date_time_binary_decimal_or_map_in_either_order()
    {
        var json = Inferred(
            """{"ts": "2024-01-02T03:04:05Z", "d": "2024-01-02", "t": "03:04:05", "b": "AA==", "m": 1.5, "mp": {"a": "2024-01-02", "b": null}, "n": 7}""",
            """{"ts": null, "d": "2024-01-03", "t": "03:04:06", "b": "AQ==", "m": 2.25, "mp": {}, "n": 8}""");
        var declared = Schema(
            Field("ts", FieldKind.Timestamp), Field("d", FieldKind.Date), Field("t", FieldKind.Time), Field("b", FieldKind.Binary),
            Field("m", FieldKind.Decimal, precision: 12, scale: 3),
            Field("mp", FieldKind.Map, children: [Field("key", FieldKind.String), Field("value", FieldKind.Date)]),
            Field("n", FieldKind.Decimal, precision: 5, scale: 2));

        var merged = SchemaMerger.Merge(json, declared);

        // The declared kinds, nullable where the JSON was; an integer column still widens a decimal as before.
        Assert.Equal("ts timestamp, d date, t time, b binary, m decimal(12,3), mp map<string,date>, n decimal(21,2)", merged.ToString());
        Assert.Equal([true, false, false, false, false, false, false], merged.Fields.Select(field => field.Nullable));
        Assert.True(merged.Fields[5].ChildFields[1].Nullable);
        Assert.Equal(merged, SchemaMerger.Merge(declared, json));
        // A third batch of either format merges the same way.
        Assert.Equal(merged, SchemaMerger.Merge([json, declared, json]));
        Assert.Equal(merged, SchemaMerger.Merge([json, json, declared, declared]));
    }

    [Fact]
    public void Only_json_inferred_fields_take_a_declared_kind_and_nested_ones_too()
    {
        var json = Inferred("""{"l": ["2024-01-02T03:04:05Z"], "s": {"at": "2024-01-02"}, "mp": {"x": {"when": "03:04"}}}""");
        var declared = Schema(
            Field("l", FieldKind.List, children: [Field("element", FieldKind.Timestamp)]),
            Field("s", FieldKind.Struct, children: [Field("at", FieldKind.Date)]),
            Field("mp", FieldKind.Map, children: [Field("key", FieldKind.String), Field("value", FieldKind.Struct, children: [Field("when", FieldKind.Time)])]));

        Assert.Equal("l list<timestamp>, s struct<at:date>, mp map<string,struct<when:time>>", SchemaMerger.Merge(json, declared).ToString());

        // Two declared types are never reconciled: a Parquet string column is no JSON string, merged with JSON's or not.
        var declaredString = Schema(Field("ts", FieldKind.String));
        var declaredTimestamp = Schema(Field("ts", FieldKind.Timestamp));
        Assert.Throws<SchemaConflictException>(() => SchemaMerger.Merge(declaredString, declaredTimestamp));
        Assert.Throws<SchemaConflictException>(() => SchemaMerger.Merge([Inferred("""{"ts": "x"}"""), declaredString, declaredTimestamp]));
        Assert.Throws<SchemaConflictException>(() => SchemaMerger.Merge([declaredString, Inferred("""{"ts": "x"}"""), declaredTimestamp]));
        // JSON gives no timestamp from a number, no decimal from a string, no map from an array or a string.
        Assert.Throws<SchemaConflictException>(() => SchemaMerger.Merge(Inferred("""{"ts": 1.5}"""), declaredTimestamp));
        Assert.Throws<SchemaConflictException>(() => SchemaMerger.Merge(Inferred("""{"m": "1.5"}"""), Schema(Field("m", FieldKind.Decimal, precision: 9, scale: 2))));
        var intKeys = Schema(Field("mp", FieldKind.Map, children: [Field("key", FieldKind.Int32), Field("value", FieldKind.Int64)]));
        Assert.Throws<SchemaConflictException>(() => SchemaMerger.Merge(Inferred("""{"mp": [1]}"""), intKeys));
        Assert.Throws<SchemaConflictException>(() => SchemaMerger.Merge(Inferred("""{"mp": "1"}"""), intKeys));
        // An object's field whose value is no map value names its path.
        var error = Assert.Throws<SchemaConflictException>(() => SchemaMerger.Merge(Inferred("""{"mp": {"x": {"when": 5}}}"""), declared));
        Assert.Equal("mp.x.when", error.ColumnPath);
    }

    [Theory]
    [InlineData(FieldKind.Int32, """{"1": 2, "-3": 4}""")]
    [InlineData(FieldKind.Int64, """{"9223372036854775807": 2}""")]
    [InlineData(FieldKind.Date, """{"2024-01-02": 2}""")]
    [InlineData(FieldKind.Timestamp, """{"2024-01-02T03:04:05.5Z": 2}""")]
    [InlineData(FieldKind.Decimal, """{"1.250": 2}""")]
    [InlineData(FieldKind.Boolean, """{"true": 2}""")]
    [InlineData(FieldKind.Int32, """{"not a number": 2}""")]
    public void A_json_object_takes_a_declared_map_of_any_scalar_key_kind_its_keys_judged_when_read(FieldKind key, string json)
    {
        // Was a conflict for every key kind but string: our own JSON export of a map<int32,...> did not read back beside it.
        // The names are not judged here: one that is no key of the kind makes its line invalid when the batch is read.
        var declared = Schema(Field("mp", FieldKind.Map, children: [Field("key", key, precision: key == FieldKind.Decimal ? 12 : 0, scale: key == FieldKind.Decimal ? 3 : 0), Field("value", FieldKind.Int64)]));
        var inferred = Inferred($$"""{"mp": {{json}}}""");

        var merged = SchemaMerger.Merge(inferred, declared);

        Assert.Equal(declared.Fields[0].TypeName, merged.Fields[0].TypeName);
        Assert.Equal(merged, SchemaMerger.Merge(declared, inferred));
    }

    [Fact]
    public void Json_objects_of_other_keys_take_a_declared_map_of_the_same_value_nullability_in_any_order()
    {
        // Was: the value was nullable when the two JSON batches met first (each one's key is missing from the other's objects,
        // so the merged struct's fields were nullable) and not nullable when the map came between them.
        var first = Inferred("""{"mp": {"a": "2024-01-02"}}""");
        var second = Inferred("""{"mp": {"b": "2024-01-03"}}""");
        var declared = Schema(Field("mp", FieldKind.Map, children: [Field("key", FieldKind.String), Field("value", FieldKind.Date)]));
        DatasetSchema[] batches = [first, second, declared];
        int[][] orders = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];

        var merged = orders.Select(order => SchemaMerger.Merge(order.Select(i => batches[i]))).ToList();

        Assert.All(merged, schema => Assert.Equal(merged[0], schema));
        Assert.Equal("mp map<string,date>", merged[0].ToString());
        // A key an object lacks is no entry, not a null one, but JSON inference tells neither from a null: the value is nullable.
        Assert.True(merged[0].Fields[0].ChildFields[1].Nullable);
        Assert.True(SchemaMerger.Merge(first, declared).Fields[0].ChildFields[1].Nullable);
        // Declared maps alone keep their value's nullability.
        Assert.False(SchemaMerger.Merge(declared, declared).Fields[0].ChildFields[1].Nullable);
    }

    [Fact]
    public void Json_integers_of_one_batch_and_json_numbers_with_a_fraction_of_another_widen_a_declared_decimal_in_any_order()
    {
        // Was decimal(12,3) when the two JSON batches met first (their double took the decimal as declared, and the
        // integers that needed the widening no longer fit) and decimal(22,3) when the decimal came before the integers.
        var integers = Inferred("""{"m": 12345678901}""");
        var fractions = Inferred("""{"m": 1.5}""");
        var declared = Schema(Field("m", FieldKind.Decimal, nullable: true, precision: 12, scale: 3));
        DatasetSchema[] batches = [integers, fractions, declared];
        int[][] orders = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];

        var merged = orders.Select(order => SchemaMerger.Merge(order.Select(i => batches[i])).ToString()).ToList();

        Assert.Equal(Enumerable.Repeat("m decimal(22,3)", orders.Length), merged);
        // One batch holding both keeps its rule: a field of numbers with a fraction takes the decimal as declared.
        Assert.Equal("m decimal(12,3)", SchemaMerger.Merge(Inferred("""{"m": 1}""", """{"m": 1.5}"""), declared).ToString());
        // Widened past 38 digits it is a conflict, as the integers alone are.
        var wide = Schema(Field("m", FieldKind.Decimal, nullable: true, precision: 38, scale: 20));
        Assert.Throws<SchemaConflictException>(() => SchemaMerger.Merge([integers, fractions, wide]));
        Assert.Throws<SchemaConflictException>(() => SchemaMerger.Merge([wide, integers, fractions]));
    }

    [Theory]
    [InlineData(FieldKind.Int64, "m decimal(22,3)")]
    [InlineData(FieldKind.Int32, "m decimal(13,3)")]
    public void A_json_double_beside_a_declared_integer_column_and_a_declared_decimal_gives_the_widened_decimal_in_any_order(FieldKind integer, string expected)
    {
        // Was a conflict (double vs decimal(12,3)) when the JSON double met the integer column first: their double was
        // declared, and two declared kinds are never reconciled; with the decimal first, the integers widened it.
        var fractions = Inferred("""{"m": 1.5}""");
        var integers = Schema(Field("m", integer, nullable: true));
        var declared = Schema(Field("m", FieldKind.Decimal, nullable: true, precision: 12, scale: 3));
        DatasetSchema[] batches = [fractions, integers, declared];
        int[][] orders = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];

        var merged = orders.Select(order => SchemaMerger.Merge(order.Select(i => batches[i])).ToString()).ToList();

        Assert.Equal(Enumerable.Repeat(expected, orders.Length), merged);
        // Without a decimal, the integer column with the JSON numbers is a double, as before.
        Assert.Equal("m double", SchemaMerger.Merge(integers, fractions).ToString());
        Assert.Equal("m double", SchemaMerger.Merge(fractions, integers).ToString());
    }
}

/// <summary>
/// A JSON-inferred map (an object whose keys are data, <see cref="JsonSchemaInference.MapMinKeys"/>) meets other batches'
/// fields at its path: the same schema whichever batch comes first.
/// </summary>
public sealed class JsonInferredMapMergeTests
{
    private static SchemaField Json(SchemaField field) => field with
    {
        JsonInferred = true,
        Children = field.Children?.Select(Json).ToList(),
    };

    private static SchemaField JsonMap(string name, SchemaField value) =>
        Json(new SchemaField(name, FieldKind.Map, false, Children: [new SchemaField("key", FieldKind.String, false), value with { Name = "value", Nullable = true }]));

    private static SchemaField MergedBothWays(SchemaField first, SchemaField second)
    {
        var forward = SchemaMerger.Merge(new DatasetSchema([first]), new DatasetSchema([second]));
        var backward = SchemaMerger.Merge(new DatasetSchema([second]), new DatasetSchema([first]));
        Assert.Equal(forward, backward);
        return Assert.Single(forward.Fields);
    }

    [Fact]
    public void A_json_map_takes_another_json_batchs_object_its_fields_merged_into_the_value()
    {
        var map = JsonMap("m", new SchemaField("value", FieldKind.Struct, Children: [new SchemaField("a", FieldKind.Int64, false)]));
        var obj = Json(new SchemaField("m", FieldKind.Struct, false, Children:
        [
            new SchemaField("u1", FieldKind.Struct, false, Children: [new SchemaField("a", FieldKind.Double, false)]),
            new SchemaField("u2", FieldKind.Struct, false, Children: [new SchemaField("a", FieldKind.Int64, false), new SchemaField("b", FieldKind.String, false)]),
        ]));

        var merged = MergedBothWays(map, obj);

        Assert.Equal("map<string,struct<a:double,b:string>>", merged.TypeName);
        Assert.True(merged.JsonInferred && merged.ChildFields[1].Nullable && merged.ChildFields[1].ChildFields[1].Nullable);
    }

    [Fact]
    public void Two_json_maps_merge_their_values()
    {
        var merged = MergedBothWays(JsonMap("m", Json(new SchemaField("value", FieldKind.Int64))), JsonMap("m", Json(new SchemaField("value", FieldKind.Double))));

        Assert.Equal("map<string,double>", merged.TypeName);
        Assert.True(merged.JsonInferred);
    }

    [Fact]
    public void A_json_map_takes_a_declared_maps_key_kind_and_its_values_kind_where_json_holds_it_as_text()
    {
        var declared = new SchemaField("m", FieldKind.Map, true, Children: [new SchemaField("key", FieldKind.Int32, false), new SchemaField("value", FieldKind.Date, false)]);

        var merged = MergedBothWays(JsonMap("m", Json(new SchemaField("value", FieldKind.String))), declared);

        Assert.Equal("map<int32,date>", merged.TypeName);
        Assert.False(merged.JsonInferred);
        Assert.True(merged.Nullable && merged.ChildFields[1].Nullable);
    }

    [Fact]
    public void A_json_map_and_a_declared_struct_conflict_naming_the_field()
    {
        var declared = new SchemaField("m", FieldKind.Struct, true, Children: [new SchemaField("a", FieldKind.Int64)]);
        var map = JsonMap("m", Json(new SchemaField("value", FieldKind.Int64)));

        foreach (var (first, second) in new[] { (map, declared), (declared, map) })
        {
            var error = Assert.Throws<SchemaConflictException>(() => SchemaMerger.Merge(new DatasetSchema([first]), new DatasetSchema([second])));
            Assert.Equal("m", error.ColumnPath);
        }
    }

    [Fact]
    public void A_json_map_and_an_object_whose_fields_do_not_merge_with_its_value_conflict_naming_the_field()
    {
        var obj = Json(new SchemaField("m", FieldKind.Struct, false, Children: [new SchemaField("k1", FieldKind.String, false)]));

        var error = Assert.Throws<SchemaConflictException>(() => SchemaMerger.Merge(new DatasetSchema([JsonMap("m", Json(new SchemaField("value", FieldKind.Int64)))]), new DatasetSchema([obj])));

        Assert.Equal("m.k1", error.ColumnPath);
    }
}
