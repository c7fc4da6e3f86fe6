using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace DatasetExport.Engine.Export;

/// <summary>The values a folder template's macros expand to for one run.</summary>
public sealed record FolderTemplateValues(string DatasetId, string DatasetName, string DestinationName, string FlowName, DateTimeOffset ScheduledTime);

/// <summary>
/// The seed platform's folder name template: where below the destination's folder a run's files go. Macros:
/// <c>%DATASET_ID%</c>, <c>%DATASET_NAME%</c>, <c>%DESTINATION%</c>, <c>%FLOW_NAME%</c>, <c>%EXPORT_TIME%</c> (the
/// exportTime= value, yyyyMMddHHmm UTC) and <c>%DATETIME(format)%</c> (the scheduled time in UTC, .NET format).
/// </summary>
public static partial class FolderTemplate
{
    public const string Default = "%DATASET_ID%/exportTime=%EXPORT_TIME%";
    public const int MaxLength = 512;

    private const string Parameter = "FolderTemplate";
    private static readonly string[] Names = ["DATASET_ID", "DATASET_NAME", "DESTINATION", "FLOW_NAME", "EXPORT_TIME", "DATETIME"];
    private static readonly char[] UnsafeInSegment = ['\\', ':', '*', '?', '"', '<', '>', '|'];
    private static readonly FolderTemplateValues Sample = new("dataset", "Dataset", "destination", "flow", new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero));

    [GeneratedRegex(@"%([A-Z_]+)(?:\(([^)%]*)\))?%")]
    private static partial Regex Macro();

    /// <summary>
    /// Throws <see cref="ArgumentException"/> (ParamName FolderTemplate) for a template that could escape the
    /// destination's folder, let datasets write into each other's folders, or uses an unknown macro or format.
    /// </summary>
    public static void Validate(string template)
    {
        if (string.IsNullOrWhiteSpace(template)) throw Invalid(template, "it is empty");
        if (template.Length > MaxLength) throw Invalid(template, $"it is longer than {MaxLength} characters");
        if (template.Any(char.IsControl)) throw Invalid(template, "it contains control characters");
        if (template.StartsWith('/') || template.StartsWith('\\') || (template.Length > 1 && template[1] == ':'))
        {
            throw Invalid(template, "it must be relative to the destination's folder");
        }
        foreach (Match macro in Macro().Matches(template))
        {
            var name = macro.Groups[1].Value;
            if (!Names.Contains(name)) throw Invalid(template, $"%{name}% is not a macro (known: {string.Join(", ", Names.Select(n => "%" + n + "%"))})");
            var hasFormat = macro.Groups[2].Success;
            if (name == "DATETIME" && !hasFormat) throw Invalid(template, "%DATETIME% needs a format, e.g. %DATETIME(yyyyMMdd_HHmmss)%");
            if (name != "DATETIME" && hasFormat) throw Invalid(template, $"%{name}% takes no format");
        }
        var literal = Macro().Replace(template, "x");
        if (literal.Contains('%')) throw Invalid(template, "a '%' does not belong to a macro");
        if (literal.IndexOfAny(UnsafeInSegment) >= 0) throw Invalid(template, "it contains a character that cannot be part of a path (\\ : * ? \" < > |)");
        if (!Uses(template, "DATASET_ID"))
        {
            throw Invalid(template, "it must contain %DATASET_ID%, so that datasets never write into each other's folders");
        }
        // Expanding a sample proves every format works and no segment is '.' or '..' (DATETIME formats included).
        Expand(template, Sample);
    }

    /// <summary>Whether the template has the macro <paramref name="name"/> (e.g. "FLOW_NAME"), with or without a format.</summary>
    public static bool Uses(string template, string name) => Macro().Matches(template).Any(macro => macro.Groups[1].Value == name);

    /// <summary>The relative folder for a run. Names are made safe as single path segments.</summary>
    public static string Expand(string template, FolderTemplateValues values)
    {
        var expanded = Macro().Replace(template, macro => macro.Groups[1].Value switch
        {
            "DATASET_ID" => Segment(values.DatasetId),
            "DATASET_NAME" => Segment(values.DatasetName),
            "DESTINATION" => Segment(values.DestinationName),
            "FLOW_NAME" => Segment(values.FlowName),
            "EXPORT_TIME" => ExportRunner.ExportTimeValue(values.ScheduledTime),
            _ => FormatTime(template, macro.Groups[2].Value, values.ScheduledTime),
        });
        var segments = expanded.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (segments.Length == 0 || segments.Any(s => s is "." or ".." || s.Trim().Length == 0))
        {
            throw Invalid(template, $"it expands to '{expanded}', which is not a folder below the destination's");
        }
        return string.Join('/', segments);
    }

    private static string FormatTime(string template, string format, DateTimeOffset time)
    {
        string text;
        try
        {
            text = time.UtcDateTime.ToString(format, CultureInfo.InvariantCulture);
        }
        catch (FormatException error)
        {
            throw new ArgumentException($"The folder template '{template}' is not valid: '{format}' is not a date and time format ({error.Message}).", Parameter, error);
        }
        if (text.IndexOfAny(UnsafeInSegment) >= 0 || text.Any(char.IsControl))
        {
            throw Invalid(template, $"%DATETIME({format})% gives '{text}', which cannot be part of a path");
        }
        return text;
    }

    /// <summary>One path segment: separators and characters no storage accepts become '_'.</summary>
    private static string Segment(string value)
    {
        var text = new StringBuilder(value.Length);
        foreach (var c in value) text.Append(char.IsControl(c) || c == '/' || UnsafeInSegment.Contains(c) ? '_' : c);
        var segment = text.ToString().Trim();
        return segment is "" or "." or ".." ? "_" : segment;
    }

    private static ArgumentException Invalid(string template, string why) =>
        new($"The folder template '{template}' is not valid: {why}.", Parameter);
}
