using System.Text.Json;
using DatasetExport.Engine.Formats;

namespace DatasetExport.Engine.Tests.Formats;

/// <summary>
/// Schema inference reads each line as a token stream, not as a document: its errors must still be the parser's (the
/// message <see cref="JsonDocument.Parse(string, JsonDocumentOptions)"/> gives, even when a type conflict comes earlier in
/// the line), and a line the handler leaves out must leave nothing in the schema.
/// </summary>
public sealed class JsonSchemaInferenceTests : IDisposable
{
    private readonly TempFolder _folder = new("de-jsonl-infer");

    public void Dispose() => _folder.Dispose();

    private string Write(params string[] lines)
    {
        var path = _folder.Combine($"{Guid.NewGuid():N}.jsonl");
        File.WriteAllText(path, string.Join('\n', lines) + "\n");
        return path;
    }

    private static string ParserMessage(string line)
    {
        var error = Assert.ThrowsAny<JsonException>(() => JsonDocument.Parse(line).Dispose());
        return error.Message;
    }

    [Theory]
    [InlineData("""{"a": 1, }""")]
    [InlineData("""{"a": 1}{"a": 2}""")]
    [InlineData("""{"a": 1} x""")]
    [InlineData("""{"a": "unterminated""")]
    [InlineData("""{"a": "x", "b": [1, 2""")]
    [InlineData("""{"a": "conflict first", "b": tru}""")]
    [InlineData("""{"a": {"b": 1}, "c": 01}""")]
    [InlineData("[1, 2")]
    [InlineData("nul")]
    public async Task An_invalid_line_gives_the_parsers_message_strict_and_goes_to_the_handler_whole(string badLine)
    {
        var path = Write("""{"a": 1, "keep": true}""", badLine, """{"a": 3}""");

        var strict = await Assert.ThrowsAsync<BatchReadException>(() => new JsonLinesBatchReader().ReadSchemaAsync(path, false, default));

        Assert.Equal($"{path} (line 2): invalid JSON: {ParserMessage(badLine)}", strict.Message);
        var reported = new List<BatchReadException>();
        var schema = await new JsonLinesBatchReader(onInvalidRecord: reported.Add).ReadSchemaAsync(path, false, default);
        Assert.Equal(strict.Message, Assert.Single(reported).Message);
        // Nothing of the left-out line: no fields b or c, "a" still an integer, "keep" missing on line 3 only.
        Assert.Equal(new DatasetSchema([new SchemaField("a", FieldKind.Int64, Nullable: false), new SchemaField("keep", FieldKind.Boolean, Nullable: true)]), schema);
    }

    [Fact]
    public async Task Nesting_deeper_than_the_parsers_limit_gives_its_message()
    {
        var deep = "{\"a\":" + string.Concat(Enumerable.Repeat("[", 70)) + string.Concat(Enumerable.Repeat("]", 70)) + "}";
        var path = Write(deep);

        var error = await Assert.ThrowsAsync<BatchReadException>(() => new JsonLinesBatchReader().ReadSchemaAsync(path, false, default));

        Assert.Equal($"{path} (line 1): invalid JSON: {ParserMessage(deep)}", error.Message);
    }

    [Theory]
    [InlineData("[1]", "an array")]
    [InlineData("\"text\"", "a string")]
    [InlineData("12.5", "a number")]
    [InlineData("false", "a boolean")]
    [InlineData("null", "null")]
    public async Task A_line_that_is_not_an_object_says_what_it_is(string line, string found)
    {
        var path = Write("""{"a": 1}""", line);

        var error = await Assert.ThrowsAsync<BatchReadException>(() => new JsonLinesBatchReader().ReadSchemaAsync(path, false, default));

        Assert.Equal($"{path} (line 2): expected a JSON object but found {found}.", error.Message);
    }

    [Theory]
    [InlineData("""{"a": 1, "a": 2}""", "a")]
    [InlineData("""{"a": 1, "\u0061": 2}""", "a")]
    [InlineData("""{"o": {"x": 1, "y": 2, "x": 3}}""", "o.x")]
    [InlineData("""{"l": [{"k": 1}, {"k": 2, "k": 3}]}""", "l[].k")]
    public async Task A_field_twice_in_one_object_names_its_path(string line, string field)
    {
        var path = Write("""{"a": 5}""", line);

        var error = await Assert.ThrowsAsync<BatchReadException>(() => new JsonLinesBatchReader().ReadSchemaAsync(path, false, default));

        Assert.Equal($"{path} (line 2): field '{field}' appears twice in one object.", error.Message);
    }

    [Fact]
    public async Task A_conflict_names_the_field_path_the_kinds_and_the_line()
    {
        var path = Write("""{"l": [{"k": [1]}]}""", """{"l": [{"k": [2]}, {"k": [{"deep": 1}]}]}""");

        var error = await Assert.ThrowsAsync<BatchReadException>(() => new JsonLinesBatchReader().ReadSchemaAsync(path, false, default));

        Assert.Equal($"{path} (line 2): field 'l[].k[]' is an object here but an integer on earlier lines.", error.Message);
    }

    [Fact]
    public async Task Fields_in_any_order_and_escaped_names_merge_by_their_text()
    {
        var path = Write(
            """{"a": 1, "b": "x", "é": true}""",
            """{"\u00e9": false, "c": null, "a": 2.5}""",
            """{"b": "y", "a": 3, "o": {"p": 1, "q": 2}}""",
            """{"o": {"q": 3}, "b": null, "a": 4}""");

        var schema = await new JsonLinesBatchReader().ReadSchemaAsync(path, false, default);

        Assert.Equal(new DatasetSchema(
        [
            new SchemaField("a", FieldKind.Double, Nullable: false),
            new SchemaField("b", FieldKind.String, Nullable: true),
            new SchemaField("é", FieldKind.Boolean, Nullable: true),
            new SchemaField("c", FieldKind.String, Nullable: true),
            new SchemaField("o", FieldKind.Struct, Nullable: true, Children:
            [
                new SchemaField("p", FieldKind.Int64, Nullable: true),
                new SchemaField("q", FieldKind.Int64, Nullable: false),
            ]),
        ]), schema);
    }

    [Fact]
    public async Task Many_fields_shuffled_on_every_line_and_long_escaped_names_merge_by_their_text()
    {
        var longName = "é" + new string('n', 300);
        var names = Enumerable.Range(0, 40).Select(i => $"f{i:D2}").Append(longName).ToArray();
        var random = new Random(7);
        string Line(IEnumerable<string> fields, string value) =>
            "{" + string.Join(", ", fields.Select(name => $"\"{(name == longName && value != "1" ? "\\u00e9" + name[1..] : name)}\": {value}")) + "}";
        var path = Write(
            Line(names, "1"),
            Line(names.OrderBy(_ => random.Next()), "2"),
            Line(names.Where((_, i) => i % 3 != 0).OrderBy(_ => random.Next()), "3.5"),
            Line(names.OrderBy(_ => random.Next()), "4"));

        var schema = await new JsonLinesBatchReader().ReadSchemaAsync(path, false, default);

        Assert.Equal(
            names.Select((name, i) => new SchemaField(name, i % 3 == 0 ? FieldKind.Int64 : FieldKind.Double, Nullable: i % 3 == 0)).ToList(),
            schema.Fields);
    }

    [Fact]
    public async Task Lines_refused_after_part_of_them_was_observed_leave_no_trace_and_are_reported_once_in_order()
    {
        string[] lines =
        [
            """{"a": 1}""",
            """{"a": 2.5, "b": "x", "c": tru}""",
            "\"text\"",
            """{"a": 3, "d": [1, }""",
            """{"e": {"f": 1}, "a": 4} x""",
            """{"a": 5}""",
        ];
        var path = Write(lines);
        var reported = new List<string>();

        var schema = await new JsonLinesBatchReader(onInvalidRecord: error => reported.Add(error.Message)).ReadSchemaAsync(path, false, default);

        Assert.Equal(new DatasetSchema([new SchemaField("a", FieldKind.Int64, Nullable: false)]), schema);
        Assert.Equal(
        [
            $"{path} (line 2): invalid JSON: {ParserMessage(lines[1])}",
            $"{path} (line 3): expected a JSON object but found a string.",
            $"{path} (line 4): invalid JSON: {ParserMessage(lines[3])}",
            $"{path} (line 5): invalid JSON: {ParserMessage(lines[4])}",
        ], reported);
    }
}
