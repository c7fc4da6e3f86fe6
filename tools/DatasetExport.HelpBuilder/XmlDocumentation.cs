using System.Text;
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace DatasetExport.HelpBuilder;

/// <summary>The compiler's XML documentation of an assembly, as plain-text paragraphs for help.</summary>
public sealed partial class XmlDocumentation(IReadOnlyDictionary<string, XElement> members)
{
    public static XmlDocumentation Load(string path) =>
        new(XDocument.Load(path).Root!.Element("members")!.Elements("member")
            .ToDictionary(m => (string)m.Attribute("name")!, StringComparer.Ordinal));

    public XElement? Member(string id) => members.GetValueOrDefault(id);

    /// <summary>The text of <paramref name="element"/> split into paragraphs (one per <c>para</c>, or the whole).</summary>
    public static IReadOnlyList<string> Paragraphs(XElement? element)
    {
        if (element is null) return [];
        var paras = element.Elements("para").ToList();
        return paras.Count == 0 ? [Text(element)] : paras.Select(Text).Where(p => p.Length > 0).ToList();
    }

    /// <summary>Inline markup flattened: <c>see cref</c> becomes the member's short name, <c>c</c> and <c>paramref</c> their text.</summary>
    public static string Text(XElement element)
    {
        var text = new StringBuilder();
        foreach (var node in element.Nodes())
        {
            text.Append(node switch
            {
                XText plain => plain.Value,
                XElement { Name.LocalName: "see" or "seealso" } see => ShortName((string?)see.Attribute("cref") ?? (string?)see.Attribute("langword") ?? ""),
                XElement { Name.LocalName: "paramref" or "typeparamref" } reference => (string?)reference.Attribute("name"),
                XElement inner => Text(inner),
                _ => "",
            });
        }
        return Whitespace().Replace(text.ToString(), " ").Trim();
    }

    /// <summary>"T:System.ArgumentException" -> "ArgumentException"; "M:A.B.C(System.Int32)" -> "C".</summary>
    private static string ShortName(string cref)
    {
        var name = cref.Contains(':') ? cref[(cref.IndexOf(':') + 1)..] : cref;
        var arguments = name.IndexOf('(');
        if (arguments >= 0) name = name[..arguments];
        return name[(name.LastIndexOf('.') + 1)..];
    }

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();
}
