using System.Reflection;
using System.Runtime.Loader;
using DatasetExport.HelpBuilder;

if (args.Length != 3)
{
    Console.Error.WriteLine("usage: DatasetExport.HelpBuilder <module dll> <its XML documentation> <help file to write>");
    return 2;
}
var (modulePath, documentationPath, helpPath) = (Path.GetFullPath(args[0]), args[1], args[2]);

// The module's engine types live under Dependencies/ (the module loads them into their own context; here, reflection
// over parameter types only needs them found).
var dependencies = Path.Combine(Path.GetDirectoryName(modulePath)!, "Dependencies");
AssemblyLoadContext.Default.Resolving += (context, name) =>
{
    var candidate = Path.Combine(dependencies, name.Name + ".dll");
    return File.Exists(candidate) ? context.LoadFromAssemblyPath(candidate) : null;
};

var module = Assembly.LoadFrom(modulePath);
var documentation = XmlDocumentation.Load(documentationPath);
var commands = CommandHelp.Of(module, documentation);
Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(helpPath))!);
MamlWriter.Write(commands, helpPath);
Console.WriteLine($"DatasetExport help -> {Path.GetFullPath(helpPath)} ({commands.Count} cmdlets)");
return 0;
