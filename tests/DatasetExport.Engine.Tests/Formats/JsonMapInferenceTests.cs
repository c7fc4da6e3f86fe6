using DatasetExport.Engine.Formats;

namespace DatasetExport.Engine.Tests.Formats;

/// <summary>
/// Objects whose keys are data (ids, dates as keys) infer <c>map&lt;string, V&gt;</c>: more than
/// <see cref="JsonSchemaInference.MapMinKeys"/> distinct keys over the batch, each in fewer than 1 in
/// <see cref="JsonSchemaInference.MapSparseRatio"/> of the objects on average, values of one kind. Others stay structs.
/// </summary>
public sealed class JsonMapInferenceTests : IDisposable
{
    private readonly TempFolder _folder = new("de-jsonl-map");

    public void Dispose() => _folder.Dispose();

    private string Write(IEnumerable<string> lines)
    {
        var path = _folder.Combine($"{Guid.NewGuid():N}.jsonl");
        File.WriteAllLines(path, lines);
        return path;
    }

    private static Task<DatasetSchema> InferAsync(string path) => new JsonLinesBatchReader().ReadSchemaAsync(path, false, default);

    /// <summary>Line i: <c>{"id": i, "m": {three keys of 2,000}}</c>, each key on 1 or 2 of the 1,000 lines.</summary>
    private static IEnumerable<string> SparseLines(int lines = 1000, Func<int, string>? value = null) =>
        Enumerable.Range(0, lines).Select(i =>
            $"{{\"id\":{i},\"m\":{{" + string.Join(',', Enumerable.Range(0, 3).Select(t => (i * 2 + t) % 2000).Select(k => $"\"k{k}\":{(value ?? (k => k.ToString()))(k)}")) + "}}");

    private static SchemaField Map(string name, SchemaField value, bool nullable = false) =>
        new(name, FieldKind.Map, nullable, Children: [new SchemaField("key", FieldKind.String, Nullable: false), value with { Name = "value", Nullable = true }]);

    [Fact]
    public async Task Many_sparse_keys_of_one_kind_infer_a_map_of_string_keys_marked_json_inferred()
    {
        var schema = await InferAsync(Write(SparseLines()));

        Assert.Equal(new DatasetSchema([new SchemaField("id", FieldKind.Int64, false), Map("m", new SchemaField("value", FieldKind.Int64))]), schema);
        var map = schema.Fields[1];
        Assert.True(map.JsonInferred && map.ChildFields[0].JsonInferred && map.ChildFields[1].JsonInferred);
        Assert.Equal("id int64, m map<string,int64>", schema.ToString());
    }

    [Fact]
    public async Task Integers_and_fractions_as_values_merge_into_a_double_and_a_null_only_key_fits_any()
    {
        var schema = await InferAsync(Write(SparseLines(value: k => k % 7 == 0 ? "null" : k % 2 == 0 ? "1.5" : "3")));

        Assert.Equal("id int64, m map<string,double>", schema.ToString());
    }

    [Fact]
    public async Task Many_dense_keys_stay_a_struct()
    {
        // 500 features on every line: a table's columns.
        var lines = Enumerable.Range(0, 50).Select(i => "{\"f\":{" + string.Join(',', Enumerable.Range(0, 500).Select(k => $"\"x{k}\":{i}")) + "}}");

        var schema = await InferAsync(Write(lines));

        var f = Assert.Single(schema.Fields);
        Assert.Equal(FieldKind.Struct, f.Kind);
        Assert.Equal(500, f.ChildFields.Count);
    }

    [Fact]
    public async Task Many_sparse_keys_of_mixed_kinds_stay_a_struct()
    {
        var schema = await InferAsync(Write(SparseLines(value: k => k % 2 == 0 ? k.ToString() : $"\"s{k}\"")));

        var m = schema.Fields[1];
        Assert.Equal(FieldKind.Struct, m.Kind);
        Assert.Equal(2000, m.ChildFields.Count);
        Assert.Equal((FieldKind.Int64, FieldKind.String), (m.ChildFields.Single(c => c.Name == "k4").Kind, m.ChildFields.Single(c => c.Name == "k5").Kind));
    }

    [Fact]
    public async Task Sparse_keys_of_mixed_kinds_past_the_field_limit_fail_naming_the_line_and_what_becomes_a_map()
    {
        // One key per line, ints and strings alternating: no map, so 12,000 fields; line 9,999 adds field 10,001.
        var lines = Enumerable.Range(0, 12_000).Select(i => $"{{\"m\":{{\"k{i}\":" + (i % 2 == 0 ? "1" : "\"s\"") + "}}");

        var error = await Assert.ThrowsAsync<BatchReadException>(() => InferAsync(Write(lines)));

        Assert.Contains("(line 10000): field 'm.k9999' would be field 10001 of the batch", error.Message);
        Assert.Contains("An object of more than 200 keys becomes a map rather than pass this when its keys' values are of one kind", error.Message);
        Assert.Contains("or keys whose values are of kinds that do not merge", error.Message);
    }

    [Fact]
    public async Task A_map_of_20000_keys_never_counts_against_the_field_limit()
    {
        var lines = Enumerable.Range(0, 20_000).Select(i => $"{{\"id\":{i},\"m\":{{\"user-{i}\":{i}}}}}");

        Assert.Equal("id int64, m map<string,int64>", (await InferAsync(Write(lines))).ToString());
    }

    [Fact]
    public async Task An_object_whose_keys_would_take_the_batch_past_the_field_limit_is_a_map_however_dense()
    {
        // Was: one line of a 20,000-key map (our JSON export of a Parquet row holding it) failed at field 10,001: its keys
        // are dense (every key in its only object), so no judgement made it a map before the limit.
        var oneLine = "{\"id\":1,\"m\":{" + string.Join(',', Enumerable.Range(0, 20_000).Select(k => $"\"k{k}\":{k}")) + "}}";
        // Was: m judged a map on its first, sparse lines; 40 lines of the same 10,001 keys later made them dense, the
        // judgement was revoked, and the struct failed at the limit.
        var sparseThenDense = Enumerable.Range(0, 300).Select(i => $"{{\"m\":{{\"u{i}\":{i}}}}}")
            .Concat(Enumerable.Repeat("{\"m\":{" + string.Join(',', Enumerable.Range(0, 10_001).Select(k => $"\"d{k}\":{k}")) + "}}", 40));

        Assert.Equal("id int64, m map<string,int64>", (await InferAsync(Write([oneLine]))).ToString());
        Assert.Equal("m map<string,int64>", (await InferAsync(Write(sparseThenDense))).ToString());
    }

    [Fact]
    public async Task Past_the_field_limit_a_line_s_keys_and_objects_of_few_keys_still_fail_the_batch()
    {
        // The root is never a map; many objects of few keys each are a wide table, not data as keys.
        var wideRoot = "{" + string.Join(',', Enumerable.Range(0, 10_001).Select(k => $"\"c{k}\":{k}")) + "}";
        var manySmallObjects = "{" + string.Join(',', Enumerable.Range(0, 100).Select(o => $"\"o{o}\":{{" + string.Join(',', Enumerable.Range(0, 150).Select(k => $"\"f{k}\":{k}")) + "}")) + "}";

        var root = await Assert.ThrowsAsync<BatchReadException>(() => InferAsync(Write([wideRoot])));
        var small = await Assert.ThrowsAsync<BatchReadException>(() => InferAsync(Write([manySmallObjects])));

        Assert.Contains("(line 1): field 'c10000' would be field 10001 of the batch", root.Message);
        Assert.Contains("(line 1): field 'o66.f33' would be field 10001 of the batch", small.Message);
    }

    [Fact]
    public async Task Objects_as_values_merge_into_a_map_of_structs_and_a_map_in_a_list_is_one()
    {
        var lines = Enumerable.Range(0, 500).Select(i =>
            $"{{\"m\":{{\"u{i}\":{{\"a\":{i}" + (i % 3 == 0 ? ",\"b\":\"x\"" : "") + $"}}}},\"items\":[{{\"d{i}\":true}},{{\"d{i + 1000}\":false}}]}}");

        var schema = await InferAsync(Write(lines));

        Assert.Equal(new DatasetSchema(
        [
            Map("m", new SchemaField("value", FieldKind.Struct, Children: [new SchemaField("a", FieldKind.Int64, false), new SchemaField("b", FieldKind.String)])),
            new SchemaField("items", FieldKind.List, false, Children: [Map("element", new SchemaField("value", FieldKind.Boolean))]),
        ]), schema);
    }

    [Fact]
    public async Task Values_that_are_objects_with_keys_of_their_own_merge_into_a_map_of_maps()
    {
        // m: a key per user, each holding a key per date: both levels are data.
        var lines = Enumerable.Range(0, 1000).Select(i => $"{{\"m\":{{\"u{i}\":{{\"2024-{i}\":{i}}}}}}}");

        Assert.Equal("m map<string,map<string,int64>>", (await InferAsync(Write(lines))).ToString());
    }

    [Fact]
    public async Task The_root_of_a_line_is_never_a_map()
    {
        var lines = Enumerable.Range(0, 1000).Select(i => $"{{\"c{i}\":{i}}}");

        var schema = await InferAsync(Write(lines));

        Assert.Equal(1000, schema.Fields.Count);
        Assert.All(schema.Fields, field => Assert.Equal((FieldKind.Int64, true), (field.Kind, field.Nullable)));
    }

    [Fact]
    public async Task A_key_named_twice_in_one_map_object_is_an_error_as_in_a_struct()
    {
        var lines = SparseLines().Append("{\"id\":1,\"m\":{\"k1\":1,\"k1\":2}}");

        var error = await Assert.ThrowsAsync<BatchReadException>(() => InferAsync(Write(lines)));

        Assert.EndsWith("(line 1001): field 'm.k1' appears twice in one object.", error.Message);
    }

    [Fact]
    public async Task A_key_named_twice_in_a_map_of_more_keys_than_the_field_limit_is_the_error_named()
    {
        // Was: the repeated key disproved the map, and the inference, started over with m a struct, failed at the field
        // limit at line 10,000 ("field 'm.k9999' would be field 10001 ... its keys are dense, or their values of kinds
        // that do not merge"), naming neither the line nor the fault.
        var lines = Enumerable.Range(0, 12_000).Select(i => $"{{\"m\":{{\"k{i}\":{i}}}}}").Append("{\"m\":{\"k1\":1,\"k1\":2}}");

        var error = await Assert.ThrowsAsync<BatchReadException>(() => InferAsync(Write(lines)));

        Assert.EndsWith("(line 12001): field 'm.k1' appears twice in one object.", error.Message);
    }

    [Theory]
    [InlineData(300)]
    [InlineData(250)]
    public async Task A_line_left_out_as_invalid_json_leaves_no_trace_in_the_judgement(int at)
    {
        // Was: the invalid line's string value (read before the JSON error it ends in) disproved the map, so the inference
        // started over with m a struct of 300 fields, which the line, then left out, had no part in.
        var lines = Enumerable.Range(0, 300).Select(i => $"{{\"id\":{i},\"m\":{{\"k{i}\":{i}}}}}").ToList();
        lines.Insert(at, "{\"id\":1,\"m\":{\"k5\":\"x\"}");
        var refused = new List<BatchReadException>();

        var schema = await new JsonLinesBatchReader(onInvalidRecord: refused.Add).ReadSchemaAsync(Write(lines), false, default);

        Assert.Equal("id int64, m map<string,int64>", schema.ToString());
        Assert.Contains($"(line {at + 1}): invalid JSON", Assert.Single(refused).Message);
        // Strict, the line fails the batch as invalid JSON.
        var error = await Assert.ThrowsAsync<BatchReadException>(() => InferAsync(Write(lines)));
        Assert.Contains($"(line {at + 1}): invalid JSON", error.Message);
    }

    [Fact]
    public async Task A_line_left_out_as_invalid_json_whose_keys_would_pass_the_field_limit_leaves_no_map_behind()
    {
        // 50 lines of the same 300 keys (a dense struct), and a line of invalid JSON whose m holds 9,800 more: was, its keys
        // took m past the field limit, which made m a map however dense, though the line was then left out.
        var dense = "{\"m\":{" + string.Join(',', Enumerable.Range(0, 300).Select(k => $"\"d{k}\":{k}")) + "}}";
        var broken = "{\"m\":{" + string.Join(',', Enumerable.Range(0, 9_800).Select(k => $"\"b{k}\":{k}")) + "}";
        var lines = Enumerable.Repeat(dense, 50).Append(broken).ToList();
        var refused = new List<BatchReadException>();

        var schema = await new JsonLinesBatchReader(onInvalidRecord: refused.Add).ReadSchemaAsync(Write(lines), false, default);

        Assert.Equal((FieldKind.Struct, 300), (schema.Fields[0].Kind, schema.Fields[0].ChildFields.Count));
        Assert.Contains("(line 51): invalid JSON", Assert.Single(refused).Message);
    }

    /// <summary>
    /// Lines that make m a map early on (sparse integers) and later show it is none: strings as values of other keys, or
    /// the same 300 keys on every later line. Judged from every line, whatever their order.
    /// </summary>
    public static TheoryData<string> LateEvidence => new() { "kinds", "density" };

    [Theory]
    [MemberData(nameof(LateEvidence))]
    public async Task An_object_judged_a_map_that_later_lines_show_is_none_is_a_struct(string evidence)
    {
        var early = SparseLines(lines: 300).ToList();   // 300 lines, keys k0..k600
        var late = evidence == "kinds"
            ? Enumerable.Range(0, 300).Select(i => $"{{\"id\":{i},\"m\":{{\"s{i}\":\"text\"}}}}")
            : Enumerable.Range(0, 3000).Select(i => $"{{\"id\":{i},\"m\":{{" + string.Join(',', Enumerable.Range(0, 300).Select(k => $"\"k{k}\":{k}")) + "}}");

        var schema = await InferAsync(Write(early.Concat(late)));

        Assert.Equal(FieldKind.Struct, schema.Fields[1].Kind);
        Assert.Equal(evidence == "kinds" ? 901 : 601, schema.Fields[1].ChildFields.Count);
    }

    private static List<SchemaField> Sorted(IReadOnlyList<SchemaField> fields) =>
        fields.OrderBy(field => field.Name, StringComparer.Ordinal)
            .Select(field => field.Children is null ? field : field with { Children = field.Kind == FieldKind.Struct ? Sorted(field.ChildFields) : field.ChildFields.Select(child => Sorted([child])[0]).ToList() })
            .ToList();

    [Fact]
    public async Task The_judgement_is_the_same_whatever_the_order_of_the_lines()
    {
        var lines = SparseLines(lines: 300)
            .Concat(Enumerable.Range(0, 300).Select(i => $"{{\"id\":{i},\"n\":{{\"s{i}\":1,\"t{i}\":{(i % 2 == 0 ? "1" : "\"x\"")}}}}}"))
            .Concat(Enumerable.Range(0, 400).Select(i => $"{{\"id\":{i},\"d\":{{\"u{i}\":{{\"a\":{i}}}}},\"w\":{{" + string.Join(',', Enumerable.Range(0, 250).Select(k => $"\"w{k}\":{k}")) + "}}"))
            .ToList();
        var inOrder = await InferAsync(Write(lines));
        Assert.Equal([FieldKind.Int64, FieldKind.Map, FieldKind.Struct, FieldKind.Map, FieldKind.Struct], inOrder.Fields.Select(field => field.Kind));

        foreach (var seed in new[] { 1, 2, 3 })
        {
            var shuffled = lines.OrderBy(_ => 0).ToList();
            new Random(seed).Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(shuffled));
            var schema = await InferAsync(Write(shuffled));
            // Fields come in first-seen order; the kinds and fields of each are the same.
            Assert.Equal(Sorted(inOrder.Fields), Sorted(schema.Fields));
        }
    }
}
