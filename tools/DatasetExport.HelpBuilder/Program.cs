using System.Reflection;
using System.Runtime.InteropServices;
using DatasetExport.HelpBuilder;

if (args.Length != 4)
{
    Console.Error.WriteLine("usage: DatasetExport.HelpBuilder <module dll> <its XML documentation> <System.Management.Automation it references> <help file to write>");
    return 2;
}
var (modulePath, documentationPath, automationPath, helpPath) = (Path.GetFullPath(args[0]), args[1], Path.GetFullPath(args[2]), args[3]);

// Read as metadata only, against the reference System.Management.Automation the module was built with: no PowerShell
// runs here, and the engine's types (under Dependencies/) are only looked at.
var moduleFolder = Path.GetDirectoryName(modulePath)!;
var candidates = Directory.GetFiles(RuntimeEnvironment.GetRuntimeDirectory(), "*.dll")
    .Concat(Directory.GetFiles(Path.Combine(moduleFolder, "Dependencies"), "*.dll"))
    .Where(path => !string.Equals(Path.GetFileName(path), "System.Management.Automation.dll", StringComparison.OrdinalIgnoreCase))
    .Append(automationPath)
    .Append(modulePath);
using var context = new MetadataLoadContext(new PathAssemblyResolver(candidates));
var module = context.LoadFromAssemblyPath(modulePath);
var documentation = XmlDocumentation.Load(documentationPath);
var commands = CommandHelp.Of(module, documentation);
Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(helpPath))!);
MamlWriter.Write(commands, helpPath);
Console.WriteLine($"DatasetExport help -> {Path.GetFullPath(helpPath)} ({commands.Count} cmdlets)");
return 0;
