using System.Globalization;
using System.Management.Automation;

namespace DatasetExport;

/// <summary>
/// [ValidateRange] for a setting that $null puts back to its default: PowerShell's own range check refuses $null
/// even with [AllowNull], so -RetryCount $null could not say "use the default again".
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class ValidateRangeOrNullAttribute(int minimum, int maximum) : ValidateArgumentsAttribute
{
    protected override void Validate(object arguments, EngineIntrinsics engineIntrinsics)
    {
        var value = arguments is PSObject wrapped ? wrapped.BaseObject : arguments;
        if (value is null) return;
        var number = Convert.ToInt64(value, CultureInfo.InvariantCulture);
        if (number < minimum || number > maximum)
        {
            throw new ValidationMetadataException(
                $"The argument {number} is outside the range {minimum} to {maximum}. Supply a value in that range, or $null for the default, and then try the command again.");
        }
    }
}
