using System.Xml;
using System.Xml.Linq;

namespace DatasetExport.HelpBuilder;

/// <summary>Writes commands' help as MAML, the format Get-Help reads from a binary module's <c>&lt;dll&gt;-Help.xml</c>.</summary>
public static class MamlWriter
{
    private static readonly XNamespace Msh = "http://msh";
    private static readonly XNamespace Maml = "http://schemas.microsoft.com/maml/2004/10";
    private static readonly XNamespace Command = "http://schemas.microsoft.com/maml/dev/command/2004/10";
    private static readonly XNamespace Dev = "http://schemas.microsoft.com/maml/dev/2004/10";

    public static void Write(IReadOnlyList<CommandHelp> commands, string path)
    {
        var root = new XElement(Msh + "helpItems", new XAttribute("schema", "maml"),
            new XAttribute(XNamespace.Xmlns + "maml", Maml),
            new XAttribute(XNamespace.Xmlns + "command", Command),
            new XAttribute(XNamespace.Xmlns + "dev", Dev),
            commands.Select(Element));
        using var writer = XmlWriter.Create(path, new XmlWriterSettings { Indent = true, NewLineChars = "\n", Encoding = new System.Text.UTF8Encoding(false) });
        new XDocument(new XDeclaration("1.0", "utf-8", null), root).Save(writer);
    }

    private static XElement Element(CommandHelp command) =>
        new(Command + "command",
            new XElement(Command + "details",
                new XElement(Command + "name", command.Name),
                Description(command.Synopsis),
                new XElement(Command + "verb", command.Verb),
                new XElement(Command + "noun", command.Noun)),
            Description(command.Description.Count > 0 ? command.Description : command.Synopsis),
            new XElement(Command + "syntax", command.Syntaxes.Select(syntax =>
                new XElement(Command + "syntaxItem",
                    new XElement(Maml + "name", command.Name),
                    syntax.Parameters.Select(Parameter)))),
            new XElement(Command + "parameters", command.Parameters.Select(Parameter)),
            new XElement(Command + "inputTypes", command.InputTypes.Select(input =>
                new XElement(Command + "inputType", new XElement(Dev + "type", new XElement(Maml + "name", input))))),
            new XElement(Command + "returnValues", command.OutputTypes.Select(output =>
                new XElement(Command + "returnValue", new XElement(Dev + "type", new XElement(Maml + "name", output))))),
            new XElement(Command + "examples", command.Examples.Select((example, i) =>
                new XElement(Command + "example",
                    new XElement(Maml + "title", $"-------------------------- Example {i + 1} --------------------------"),
                    new XElement(Dev + "code", example.Code),
                    new XElement(Dev + "remarks", example.Remarks.Select(Para))))));

    private static XElement Parameter(ParameterUse use)
    {
        var parameter = use.Parameter;
        var pipeline = (use.ByValue, use.ByPropertyName) switch
        {
            (true, true) => "True (ByValue, ByPropertyName)",
            (true, false) => "True (ByValue)",
            (false, true) => "True (ByPropertyName)",
            _ => "False",
        };
        return new XElement(Command + "parameter",
            new XAttribute("required", use.Required ? "true" : "false"),
            new XAttribute("variableLength", parameter.TypeName.EndsWith("[]", StringComparison.Ordinal) ? "true" : "false"),
            new XAttribute("globbing", parameter.SupportsWildcards ? "true" : "false"),
            new XAttribute("pipelineInput", pipeline),
            new XAttribute("position", use.Position?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "named"),
            new XAttribute("aliases", parameter.Aliases.Count > 0 ? string.Join(", ", parameter.Aliases) : "none"),
            new XElement(Maml + "name", parameter.Name),
            Description(parameter.Description),
            parameter.IsSwitch ? null : new XElement(Command + "parameterValue", new XAttribute("required", "true"), new XAttribute("variableLength", "false"), parameter.TypeName),
            parameter.Values.Count == 0 ? null : new XElement(Command + "parameterValueGroup", parameter.Values.Select(value =>
                new XElement(Command + "parameterValue", new XAttribute("required", "false"), new XAttribute("variableLength", "false"), value))),
            new XElement(Dev + "type", new XElement(Maml + "name", parameter.TypeName)));
    }

    private static XElement Description(IReadOnlyList<string> paragraphs) => new(Maml + "description", paragraphs.Select(Para));

    private static XElement Para(string text) => new(Maml + "para", text);
}
