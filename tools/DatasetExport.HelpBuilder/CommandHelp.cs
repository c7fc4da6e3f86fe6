using System.Reflection;
using System.Xml.Linq;

namespace DatasetExport.HelpBuilder;

/// <summary>What Get-Help shows for one cmdlet, gathered from its class and XML documentation.</summary>
public sealed record CommandHelp(
    string Verb,
    string Noun,
    IReadOnlyList<string> Synopsis,
    IReadOnlyList<string> Description,
    IReadOnlyList<SyntaxHelp> Syntaxes,
    IReadOnlyList<ParameterUse> Parameters,
    IReadOnlyList<string> InputTypes,
    IReadOnlyList<string> OutputTypes,
    IReadOnlyList<ExampleHelp> Examples)
{
    public string Name => $"{Verb}-{Noun}";

    public static IReadOnlyList<CommandHelp> Of(Assembly module, XmlDocumentation documentation) =>
        module.GetExportedTypes()
            .Where(type => !type.IsAbstract && Attributes.Single(type, "CmdletAttribute") is not null)
            .Select(type => Of(type, documentation))
            .OrderBy(command => command.Noun, StringComparer.Ordinal).ThenBy(command => command.Verb, StringComparer.Ordinal)
            .ToList();

    private static CommandHelp Of(Type type, XmlDocumentation documentation)
    {
        var cmdlet = Attributes.Single(type, "CmdletAttribute")!;
        var verb = (string)cmdlet.ConstructorArguments[0].Value!;
        var noun = (string)cmdlet.ConstructorArguments[1].Value!;
        var summary = documentation.Member("T:" + type.FullName)?.Element("summary");
        var synopsis = Tagged(summary, "synopsis");
        if (synopsis.Count == 0) throw new InvalidOperationException($"{type.FullName} has no <para type=\"synopsis\"> in its XML documentation.");

        var parameters = ParameterHelp.Of(type, documentation);
        var syntaxes = SyntaxHelp.Of(parameters, Attributes.Named<string>(cmdlet, "DefaultParameterSetName"), Attributes.Named<bool>(cmdlet, "SupportsShouldProcess"));
        var uses = syntaxes.SelectMany(s => s.Parameters).GroupBy(u => u.Parameter.Name, StringComparer.Ordinal)
            .Select(ParameterUse.Across)
            .OrderBy(u => SyntaxHelp.IsCommon(u.Parameter)) // -WhatIf and -Confirm last, as PowerShell lists them
            .ToList();

        var inputs = parameters.Where(p => p.Sets.Any(s => s.ByValue))
            .Select(p => $"{p.TypeName}: the -{p.Name} parameter, from the pipeline by value.")
            .Concat(parameters.Where(p => p.Sets.Any(s => s.ByPropertyName && !s.ByValue))
                .Select(p => $"Objects with a {p.Name} property: the -{p.Name} parameter, from the pipeline by property name."))
            .ToList();
        var outputs = Attributes.Of(type, "OutputTypeAttribute").SelectMany(Attributes.Values<Type>)
            .Where(t => t.FullName != "System.Void").Select(t => t.FullName!).Distinct().ToList();
        var examples = documentation.Member("T:" + type.FullName)?.Elements("example").Select(ExampleHelp.Of).ToList() ?? [];

        return new CommandHelp(verb, noun, synopsis, Tagged(summary, "description"), syntaxes, uses, inputs, outputs, examples);
    }

    private static IReadOnlyList<string> Tagged(XElement? summary, string kind) =>
        summary?.Elements("para").Where(p => (string?)p.Attribute("type") == kind).Select(XmlDocumentation.Text).ToList() ?? [];
}

/// <summary>A cmdlet parameter: its name, type, text, and how it binds in each parameter set it belongs to.</summary>
public sealed record ParameterHelp(
    string Name,
    string TypeName,
    bool IsSwitch,
    bool SupportsWildcards,
    IReadOnlyList<string> Aliases,
    IReadOnlyList<string> Values,
    IReadOnlyList<string> Description,
    IReadOnlyList<ParameterBinding> Sets)
{
    public const string AllSets = "__AllParameterSets";

    public static IReadOnlyList<ParameterHelp> Of(Type type, XmlDocumentation documentation) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            // Declared order, the cmdlet's own before its base classes'.
            .OrderBy(p => Depth(type, p.DeclaringType!)).ThenBy(p => p.MetadataToken)
            .Select(p => (Property: p, Bindings: Attributes.Of(p, "ParameterAttribute").Select(ParameterBinding.Of).ToList()))
            .Where(p => p.Bindings.Count > 0)
            .Select(p => Of(p.Property, p.Bindings, documentation))
            .ToList();

    private static ParameterHelp Of(PropertyInfo property, List<ParameterBinding> bindings, XmlDocumentation documentation)
    {
        var type = property.PropertyType is { IsGenericType: true } generic && generic.GetGenericTypeDefinition().FullName == "System.Nullable`1"
            ? generic.GetGenericArguments()[0]
            : property.PropertyType;
        var element = type.IsArray ? type.GetElementType()! : type;
        var values = element.IsEnum
            ? element.GetFields(BindingFlags.Public | BindingFlags.Static).OrderBy(f => f.MetadataToken).Select(f => f.Name).ToArray()
            : Attributes.Single(property, "ValidateSetAttribute") is { } validateSet ? Attributes.Values<string>(validateSet) : [];
        var summary = documentation.Member($"P:{property.DeclaringType!.FullName}.{property.Name}")?.Element("summary");
        var description = XmlDocumentation.Paragraphs(summary);
        if (description.Count == 0) throw new InvalidOperationException($"Parameter -{property.Name} of {property.ReflectedType!.FullName} has no <summary>.");
        return new ParameterHelp(
            property.Name,
            DisplayName(type),
            Attributes.IsNamed(type, "SwitchParameter"),
            Attributes.Single(property, "SupportsWildcardsAttribute") is not null,
            Attributes.Single(property, "AliasAttribute") is { } alias ? Attributes.Values<string>(alias) : [],
            values,
            description,
            bindings);
    }

    public static ParameterHelp Common(string name, string text) =>
        new(name, "SwitchParameter", true, false, name == "WhatIf" ? ["wi"] : ["cf"], [], [text], [new ParameterBinding(AllSets, false, null, false, false)]);

    private static string DisplayName(Type type) => type.IsArray ? DisplayName(type.GetElementType()!) + "[]" : type.Name;

    private static int Depth(Type type, Type declaring)
    {
        var depth = 0;
        for (var current = type; current is not null && current != declaring; current = current.BaseType) depth++;
        return depth;
    }
}

/// <summary>One [Parameter] attribute of a parameter: the set it is for and how it binds there.</summary>
public sealed record ParameterBinding(string Set, bool Mandatory, int? Position, bool ByValue, bool ByPropertyName)
{
    public static ParameterBinding Of(CustomAttributeData attribute)
    {
        // [Parameter]'s own defaults: all sets, no position.
        var position = Attributes.Named<int?>(attribute, "Position");
        return new ParameterBinding(
            Attributes.Named<string>(attribute, "ParameterSetName") ?? ParameterHelp.AllSets,
            Attributes.Named<bool>(attribute, "Mandatory"),
            position >= 0 ? position : null,
            Attributes.Named<bool>(attribute, "ValueFromPipeline"),
            Attributes.Named<bool>(attribute, "ValueFromPipelineByPropertyName"));
    }
}

/// <summary>A parameter as it binds in one syntax (parameter set), or across all of them.</summary>
public sealed record ParameterUse(ParameterHelp Parameter, bool Required, int? Position, bool ByValue, bool ByPropertyName)
{
    public static ParameterUse In(ParameterHelp parameter, ParameterBinding binding) =>
        new(parameter, binding.Mandatory, binding.Position, binding.ByValue, binding.ByPropertyName);

    /// <summary>Required only where it is in every set; a position only where it is the same in every set.</summary>
    public static ParameterUse Across(IEnumerable<ParameterUse> uses)
    {
        var all = uses.ToList();
        var positions = all.Select(u => u.Position).Distinct().ToList();
        return new ParameterUse(all[0].Parameter, all.All(u => u.Required), positions.Count == 1 ? positions[0] : null,
            all.Any(u => u.ByValue), all.Any(u => u.ByPropertyName));
    }
}

/// <summary>One line of the SYNTAX section: a parameter set and the parameters it takes.</summary>
public sealed record SyntaxHelp(string SetName, IReadOnlyList<ParameterUse> Parameters)
{
    private static readonly ParameterHelp WhatIf = ParameterHelp.Common("WhatIf", "Shows what would happen if the cmdlet runs. The cmdlet is not run.");
    private static readonly ParameterHelp Confirm = ParameterHelp.Common("Confirm", "Prompts you for confirmation before running the cmdlet.");

    public static bool IsCommon(ParameterHelp parameter) => parameter == WhatIf || parameter == Confirm;

    public static IReadOnlyList<SyntaxHelp> Of(IReadOnlyList<ParameterHelp> parameters, string? defaultSet, bool supportsShouldProcess)
    {
        var named = parameters.SelectMany(p => p.Sets.Select(s => s.Set)).Where(s => s != ParameterHelp.AllSets).Distinct().ToList();
        // A default set no parameter names (New-ExportFlow's Manual) is still a syntax: the parameters of all sets.
        if (named.Count > 0 && defaultSet is not null && !named.Contains(defaultSet)) named.Add(defaultSet);
        IEnumerable<string> sets = named.Count == 0 ? [ParameterHelp.AllSets] : named.OrderBy(s => s == defaultSet ? 0 : 1);
        return sets.Select(set =>
        {
            var uses = new List<ParameterUse>();
            foreach (var parameter in parameters)
            {
                var binding = parameter.Sets.FirstOrDefault(s => s.Set == set) ?? parameter.Sets.FirstOrDefault(s => s.Set == ParameterHelp.AllSets);
                if (binding is not null) uses.Add(ParameterUse.In(parameter, binding));
            }
            // As PowerShell lists them: positional ones by position, then mandatory, then the rest, each in declared order.
            uses = uses.OrderBy(u => u.Position ?? int.MaxValue).ThenBy(u => u.Required ? 0 : 1).ToList();
            if (supportsShouldProcess) uses.AddRange([ParameterUse.In(WhatIf, WhatIf.Sets[0]), ParameterUse.In(Confirm, Confirm.Sets[0])]);
            return new SyntaxHelp(set, uses);
        }).ToList();
    }
}

/// <summary>An <c>&lt;example&gt;</c>: its <c>&lt;code&gt;</c> and the paragraphs that explain it.</summary>
public sealed record ExampleHelp(string Code, IReadOnlyList<string> Remarks)
{
    public static ExampleHelp Of(XElement example)
    {
        var code = example.Element("code") ?? throw new InvalidOperationException("An <example> has no <code>.");
        var lines = code.Value.Replace("\r", "").Split('\n').ToList();
        while (lines.Count > 0 && string.IsNullOrWhiteSpace(lines[0])) lines.RemoveAt(0);
        while (lines.Count > 0 && string.IsNullOrWhiteSpace(lines[^1])) lines.RemoveAt(lines.Count - 1);
        // The compiler keeps each line's indentation inside the comment; drop what they all share.
        var indent = lines.Where(l => l.Trim().Length > 0).Select(l => l.Length - l.TrimStart().Length).DefaultIfEmpty(0).Min();
        return new ExampleHelp(string.Join("\n", lines.Select(l => l.Length >= indent ? l[indent..] : l.TrimStart())),
            example.Elements("para").Select(XmlDocumentation.Text).ToList());
    }
}
