using System.Collections;
using System.Management.Automation;
using System.Text;

namespace DatasetExport.Module.Tests;

/// <summary>What an output object shows, for tests that search it for text that must never be there (secrets).</summary>
internal static class PropertyText
{
    /// <summary>Appends every property value of <paramref name="value"/>, nested collections included (four levels deep), as text.</summary>
    public static void Flatten(object? value, StringBuilder into, int depth = 0)
    {
        if (value is null || depth > 4) return;
        var wrapped = PSObject.AsPSObject(value);
        into.AppendLine(wrapped.ToString());
        if (wrapped.BaseObject is string or ValueType) return;
        if (wrapped.BaseObject is IEnumerable items)
        {
            foreach (var item in items) Flatten(item, into, depth + 1);
            return;
        }
        foreach (var property in wrapped.Properties)
        {
            object? propertyValue;
            try { propertyValue = property.Value; } catch (GetValueException) { continue; }
            Flatten(propertyValue, into, depth + 1);
        }
    }
}
