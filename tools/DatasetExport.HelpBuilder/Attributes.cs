using System.Collections.ObjectModel;
using System.Reflection;

namespace DatasetExport.HelpBuilder;

/// <summary>
/// PowerShell attributes read as metadata (the module is loaded into a MetadataLoadContext against the reference
/// System.Management.Automation it was built with, so nothing of it runs here).
/// </summary>
public static class Attributes
{
    private const string Namespace = "System.Management.Automation.";

    public static IEnumerable<CustomAttributeData> Of(MemberInfo member, string name) =>
        member.GetCustomAttributesData().Where(a => a.AttributeType.FullName == Namespace + name);

    public static CustomAttributeData? Single(MemberInfo member, string name) => Of(member, name).SingleOrDefault();

    public static T? Named<T>(CustomAttributeData attribute, string name) =>
        attribute.NamedArguments.Where(a => a.MemberName == name).Select(a => (T?)a.TypedValue.Value).FirstOrDefault();

    /// <summary>The values of a <c>params</c> constructor argument (string[] or Type[]).</summary>
    public static IReadOnlyList<T> Values<T>(CustomAttributeData attribute) =>
        attribute.ConstructorArguments.SelectMany(argument => argument.Value is ReadOnlyCollection<CustomAttributeTypedArgument> items
            ? items.Select(item => (T)item.Value!)
            : [(T)argument.Value!]).ToList();

    public static bool IsNamed(Type type, string name) => type.FullName == Namespace + name;
}
