using System.Collections;
using System.Management.Automation;

namespace DatasetExport.Module.Tests;

/// <summary>The module as PowerShell sees it: manifest, exported commands, help, parameter binding.</summary>
public sealed class ModuleSurfaceTests
{
    private static readonly string[] ExpectedCmdlets =
    [
        "Disable-ExportFlow", "Enable-ExportFlow", "Get-DatasetExportOption", "Get-EligibleDataset", "Get-ExportDestination",
        "Get-ExportFlow", "Get-ExportRun", "Invoke-ExportSchedule", "New-ExportDestination", "New-ExportFlow",
        "Remove-ExportDestination", "Remove-ExportFlow", "Remove-ExportRun", "Rename-ExportDestination", "Rename-ExportFlow",
        "Set-DatasetExportOption", "Set-ExportDestination", "Set-ExportFlow", "Start-ExportRun", "Test-ExportDestination", "Test-ExportRun",
    ];

    [Fact]
    public void Manifest_passes_Test_ModuleManifest_and_lists_every_cmdlet()
    {
        using var session = new ModuleSession(importModule: false);
        var result = session.Run("Test-ModuleManifest -Path $args[0]", ModuleSession.ManifestPath).AssertNoErrors();

        var module = result.Single<PSModuleInfo>();
        Assert.Equal("DatasetExport", module.Name);
        Assert.Equal(new Version(7, 4), module.PowerShellVersion);
        Assert.Equal(["Core"], module.CompatiblePSEditions);
        Assert.Equal(ExpectedCmdlets, module.ExportedCmdlets.Keys.Order(StringComparer.Ordinal));
        Assert.Empty(module.ExportedFunctions);
    }

    [Fact]
    public void Get_Command_lists_exactly_the_exported_cmdlets()
    {
        using var session = new ModuleSession();
        var names = session.Run("Get-Command -Module DatasetExport | ForEach-Object { \"$($_.CommandType) $($_.Name)\" }")
            .AssertNoErrors().Output.Select(o => (string)o.BaseObject).Order(StringComparer.Ordinal);

        Assert.Equal(ExpectedCmdlets.Select(n => "Cmdlet " + n), names);
    }

    [Fact]
    public void Module_folder_holds_the_engine_only_under_Dependencies()
    {
        var moduleFolder = Path.GetDirectoryName(ModuleSession.ManifestPath)!;
        Assert.True(File.Exists(Path.Combine(moduleFolder, "DatasetExport.dll")));
        Assert.True(File.Exists(Path.Combine(moduleFolder, "DatasetExport.format.ps1xml")));
        Assert.False(File.Exists(Path.Combine(moduleFolder, "DatasetExport.Engine.dll")));
        Assert.True(File.Exists(Path.Combine(moduleFolder, "Dependencies", "DatasetExport.Engine.dll")));
        Assert.True(File.Exists(Path.Combine(moduleFolder, "Dependencies", "DatasetExport.Engine.deps.json")));
        Assert.True(File.Exists(Path.Combine(moduleFolder, "Dependencies", "Microsoft.Data.Sqlite.dll")));
        Assert.True(File.Exists(Path.Combine(moduleFolder, "Dependencies", "runtimes", "linux-x64", "native", "libe_sqlite3.so")));
    }

    /// <summary>
    /// The module ships MAML help written at build time from the cmdlets' XML documentation: without it Get-Help shows
    /// only the syntax (its Synopsis is then the syntax line) and no parameter texts or examples.
    /// </summary>
    [Fact]
    public void Get_Help_shows_each_cmdlets_synopsis_description_parameters_and_examples()
    {
        using var session = new ModuleSession();
        var help = session.Run("""
            Get-Command -Module DatasetExport | ForEach-Object {
                $help = Get-Help $_.Name -Full
                $description = ($help.description | ForEach-Object { $_.Text }) -join ' '
                $undescribed = @($help.parameters.parameter | Where-Object { $_ -and -not $_.description }).Count
                @($_.Name, $help.Synopsis, $description, $undescribed, @($help.examples.example).Count) -join '|'
            }
            """).AssertNoErrors().Output.Select(o => ((string)o.BaseObject).Split('|')).ToList();

        Assert.Equal(21, help.Count);
        Assert.All(help, h =>
        {
            Assert.False(h[1].StartsWith(h[0], StringComparison.Ordinal), $"{h[0]} has no synopsis: {h[1]}");
            Assert.NotEmpty(h[2]);
            // Without a description of its own, the help builder repeats the synopsis there: every cmdlet says more.
            Assert.False(h[2] == h[1], $"{h[0]} has no description beyond its synopsis: {h[2]}");
            Assert.Equal("0", h[3]);
            Assert.NotEqual("0", h[4]);
        });
        var run = help.Single(h => h[0] == "Start-ExportRun");
        Assert.Equal("Runs a flow now: exports each of its datasets to its destination and records the runs.", run[1]);
        Assert.StartsWith("Writes one ExportRun per dataset, each as it ends.", run[2]);

        var flow = session.Run("""
            $parameter = Get-Help Start-ExportRun -Parameter Flow
            $parameter.description.Text; $parameter.position; $parameter.pipelineInput; $parameter.aliases
            (Get-Help New-ExportDestination -Parameter FileType).parameterValueGroup.parameterValue -join ','
            (Get-Help Get-ExportFlow -Parameter Name).globbing
            (Get-Help New-ExportFlow -Examples).examples.example[0].code
            (Get-Help Start-ExportRun).returnValues.returnValue.type.name
            """).AssertNoErrors().Output.Select(o => o.BaseObject.ToString()).ToList();
        Assert.Equal("The flows to run: names, or flow objects from Get-ExportFlow / New-ExportFlow (a run stands for its flow). Each runs once per command.", flow[0]);
        Assert.Equal("0", flow[1]);
        Assert.Equal("True (ByValue, ByPropertyName)", flow[2]);
        Assert.Equal("Name", flow[3]);
        Assert.Equal("Json,Parquet", flow[4]);
        Assert.Equal("true", flow[5]);
        Assert.Contains("New-ExportFlow", flow[6]);
        Assert.Equal("DatasetExport.ExportRun", flow[7]);
    }

    /// <summary>
    /// Every call of a module cmdlet in the PowerShell blocks of README.md and docs/*.md and in the help examples names
    /// parameters the cmdlet takes and gives each parameter that every one of its syntaxes requires (by name, by position,
    /// or from the pipeline), so it runs as written instead of failing or prompting.
    /// </summary>
    [Fact]
    public void Examples_in_the_docs_and_help_give_the_parameters_every_syntax_requires()
    {
        using var session = new ModuleSession();
        var cmdlets = Cmdlets(session);
        var examples = Examples(session);

        var problems = new List<string>();
        var calls = 0;
        foreach (var (source, code) in examples)
        {
            var script = System.Management.Automation.Language.Parser.ParseInput(code, out _, out var errors);
            problems.AddRange(errors.Select(e => $"{source}: {e.Message}"));
            foreach (var call in script.FindAll(a => a is System.Management.Automation.Language.CommandAst, true).Cast<System.Management.Automation.Language.CommandAst>())
            {
                var name = call.GetCommandName() ?? "";
                if (!cmdlets.TryGetValue(name, out var cmdlet))
                {
                    if (System.Text.RegularExpressions.Regex.IsMatch(name, "^[A-Za-z]+-(Export[A-Za-z]+|EligibleDataset|DatasetExportOption)$")) problems.Add($"{source}: no cmdlet {name}");
                    continue;
                }
                calls++;
                problems.AddRange(MissingOrUnknownParameters(cmdlet, call).Select(problem => $"{source}: {call.Extent.Text}: {problem}"));
            }
        }

        Assert.True(calls >= 80, $"{calls} calls checked");
        Assert.True(problems.Count == 0, string.Join(Environment.NewLine, problems));
    }

    /// <summary>
    /// Every property an example reads from a module cmdlet's output (<c>Where-Object Prop</c>, <c>$_.Prop</c> in a
    /// <c>Where-Object</c> or <c>ForEach-Object</c> block, <c>Select-Object</c> / <c>Format-Table</c> / <c>Format-List</c> /
    /// <c>Sort-Object</c> property names, <c>(Get-X ...).Prop</c>) is a property of the type the cmdlet declares it writes.
    /// </summary>
    [Fact]
    public void Examples_in_the_docs_and_help_read_only_properties_the_output_has()
    {
        using var session = new ModuleSession();
        var cmdlets = Cmdlets(session);
        var problems = new List<string>();
        var checkedNames = 0;
        foreach (var (source, code) in Examples(session))
        {
            var script = System.Management.Automation.Language.Parser.ParseInput(code, out _, out _);
            void Check(Type type, string property, string context)
            {
                checkedNames++;
                if (type.GetProperty(property, System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.IgnoreCase) is null)
                {
                    problems.Add($"{source}: {context}: {type.Name} has no property {property}");
                }
            }
            Type? OutputOf(System.Management.Automation.Language.CommandAst call) =>
                cmdlets.TryGetValue(call.GetCommandName() ?? "", out var cmdlet) && cmdlet.OutputType.Count > 0 ? cmdlet.OutputType[0].Type : null;

            foreach (var pipeline in script.FindAll(a => a is System.Management.Automation.Language.PipelineAst, true).Cast<System.Management.Automation.Language.PipelineAst>())
            {
                var elements = pipeline.PipelineElements;
                if (elements.Count < 2 || elements[0] is not System.Management.Automation.Language.CommandAst first || OutputOf(first) is not { } type) continue;
                foreach (var element in elements.Skip(1))
                {
                    if (element is not System.Management.Automation.Language.CommandAst call) break;
                    var name = call.GetCommandName() ?? "";
                    if (cmdlets.ContainsKey(name))
                    {
                        if (OutputOf(call) is not { } next) break;
                        type = next;
                        continue;
                    }
                    var arguments = call.CommandElements.Skip(1).ToList();
                    foreach (var block in arguments.OfType<System.Management.Automation.Language.ScriptBlockExpressionAst>())
                    {
                        foreach (var member in block.FindAll(a => a is System.Management.Automation.Language.MemberExpressionAst { Expression: System.Management.Automation.Language.VariableExpressionAst v }
                            && (v.VariablePath.UserPath is "_" or "PSItem"), true).Cast<System.Management.Automation.Language.MemberExpressionAst>())
                        {
                            if (member.Member is System.Management.Automation.Language.StringConstantExpressionAst property) Check(type, property.Value, call.Extent.Text);
                        }
                    }
                    var words = arguments.TakeWhile(a => a is not System.Management.Automation.Language.CommandParameterAst).SelectMany(a => a switch
                    {
                        System.Management.Automation.Language.StringConstantExpressionAst word => [word.Value],
                        System.Management.Automation.Language.ArrayLiteralAst list => list.Elements.OfType<System.Management.Automation.Language.StringConstantExpressionAst>().Select(w => w.Value),
                        _ => Array.Empty<string>(),
                    }).ToList();
                    switch (name)
                    {
                        case "Where-Object" when words.Count > 0:
                            Check(type, words[0], call.Extent.Text);
                            break;
                        case "Select-Object" or "Format-Table" or "Format-List" or "Sort-Object":
                            foreach (var word in words) Check(type, word, call.Extent.Text);
                            break;
                    }
                    if (name is "ForEach-Object" or "Select-Object" or "Format-Table" or "Format-List") break; // what follows is no longer the cmdlet's output
                }
            }
            foreach (var member in script.FindAll(a => a is System.Management.Automation.Language.MemberExpressionAst { Expression: System.Management.Automation.Language.ParenExpressionAst }, true)
                .Cast<System.Management.Automation.Language.MemberExpressionAst>())
            {
                var inner = ((System.Management.Automation.Language.ParenExpressionAst)member.Expression).Pipeline as System.Management.Automation.Language.PipelineAst;
                if (inner?.PipelineElements.LastOrDefault() is System.Management.Automation.Language.CommandAst call && OutputOf(call) is { } type
                    && member.Member is System.Management.Automation.Language.StringConstantExpressionAst property)
                {
                    Check(type, property.Value, member.Extent.Text);
                }
            }
        }

        Assert.True(checkedNames >= 10, $"{checkedNames} property names checked");
        Assert.True(problems.Count == 0, string.Join(Environment.NewLine, problems));
    }

    private static Dictionary<string, CmdletInfo> Cmdlets(ModuleSession session) =>
        session.Run("Get-Command -Module DatasetExport").AssertNoErrors().Output
            .Select(o => (CmdletInfo)o.BaseObject).ToDictionary(c => c.Name, StringComparer.OrdinalIgnoreCase);

    /// <summary>The PowerShell blocks of README.md and docs/*.md, and every cmdlet's help examples.</summary>
    private static List<(string Source, string Code)> Examples(ModuleSession session)
    {
        var root = Path.GetDirectoryName(Path.GetDirectoryName(ModuleSession.QuickstartPath))!;
        var examples = new List<(string Source, string Code)>();
        foreach (var document in Directory.GetFiles(Path.Combine(root, "docs"), "*.md").Append(Path.Combine(root, "README.md")))
        {
            var blocks = System.Text.RegularExpressions.Regex.Matches(File.ReadAllText(document), "```(?:powershell|pwsh|ps1)\\n(.*?)```",
                System.Text.RegularExpressions.RegexOptions.Singleline);
            examples.AddRange(blocks.Select(block => (Path.GetFileName(document), block.Groups[1].Value)));
        }
        var helpExamples = session.Run("Get-Command -Module DatasetExport | ForEach-Object { (Get-Help $_.Name -Examples).examples.example | ForEach-Object { $_.code } }")
            .AssertNoErrors().Output.Select(o => (string)o.BaseObject).ToList();
        Assert.True(helpExamples.Count >= 30, $"{helpExamples.Count} help examples");
        examples.AddRange(helpExamples.Select(code => ("Get-Help", code)));
        return examples;
    }

    /// <summary>Parameters the call names that the cmdlet lacks, and parameters every syntax of the cmdlet requires that the call does not give.</summary>
    private static IEnumerable<string> MissingOrUnknownParameters(CmdletInfo cmdlet, System.Management.Automation.Language.CommandAst call)
    {
        ParameterMetadata? Find(string name) => cmdlet.Parameters.Values.FirstOrDefault(p =>
            p.Name.Equals(name, StringComparison.OrdinalIgnoreCase) || p.Aliases.Contains(name, StringComparer.OrdinalIgnoreCase));

        var named = new List<ParameterMetadata>();
        var positional = 0;
        var elements = call.CommandElements.Skip(1).ToList();
        for (var i = 0; i < elements.Count; i++)
        {
            if (elements[i] is not System.Management.Automation.Language.CommandParameterAst parameter)
            {
                positional++;
                continue;
            }
            if (Find(parameter.ParameterName) is not { } known)
            {
                yield return $"no parameter -{parameter.ParameterName}";
                continue;
            }
            named.Add(known);
            if (parameter.Argument is null && known.ParameterType != typeof(SwitchParameter)) i++; // its value
        }
        var piped = call.Parent is System.Management.Automation.Language.PipelineAst pipeline && pipeline.PipelineElements[0] != call;
        var requiredEverywhere = cmdlet.ParameterSets
            .Select(set => set.Parameters.Where(p => p.IsMandatory).Select(p => p.Name))
            .Aggregate((all, set) => all.Intersect(set));
        foreach (var required in requiredEverywhere.Select(name => cmdlet.Parameters[name]))
        {
            var given = named.Contains(required)
                || required.ParameterSets.Values.Any(set => set.Position >= 0 && set.Position < positional)
                || (piped && required.ParameterSets.Values.Any(set => set.ValueFromPipeline || set.ValueFromPipelineByPropertyName));
            if (!given) yield return $"-{required.Name} is required and not given";
        }
    }

    [Fact]
    public void Get_Help_shows_a_syntax_for_each_destination_type()
    {
        using var session = new ModuleSession();
        var syntaxes = session.Run("""
            (Get-Help New-ExportDestination).syntax.syntaxItem | ForEach-Object { ($_.parameter | ForEach-Object { $_.name }) -join ' ' }
            """).AssertNoErrors().Output.Select(o => ((string)o.BaseObject).Split(' ')).ToList();

        Assert.Equal(13, syntaxes.Count);
        Assert.All(syntaxes, s => Assert.Contains("Type", s));
        // One syntax per type and credential style; each identified by the parameters only it takes.
        Assert.Contains(syntaxes, s => s.Contains("Path"));
        Assert.Contains(syntaxes, s => s.Contains("Region") && s.Contains("ProfileName") && s.Contains("RoleArn") && s.Contains("ExternalId"));
        Assert.Contains(syntaxes, s => s.Contains("Bucket") && s.Contains("Credential") && s.Contains("SigningRegion") && !s.Contains("Region"));
        Assert.Contains(syntaxes, s => s.Contains("Container") && s.Contains("ConnectionString"));
        Assert.Contains(syntaxes, s => s.Contains("Container") && s.Contains("AccountName") && s.Contains("Credential") && !s.Contains("TenantId"));
        Assert.Contains(syntaxes, s => s.Contains("Container") && s.Contains("SasUri"));
        Assert.Contains(syntaxes, s => s.Contains("Container") && s.Contains("TenantId"));
        Assert.Contains(syntaxes, s => s.Contains("Container") && s.Contains("AccountName") && !s.Contains("Credential"));
        Assert.Contains(syntaxes, s => s.Contains("FileSystem") && s.Contains("AccountName"));
        Assert.Contains(syntaxes, s => s.Contains("Url"));
        Assert.Contains(syntaxes, s => s.Contains("SasUri") && !s.Contains("Container"));
        Assert.Contains(syntaxes, s => s.Contains("HostName") && !s.Contains("KeyFile"));
        Assert.Contains(syntaxes, s => s.Contains("HostName") && s.Contains("KeyFile") && s.Contains("HostKeyFingerprint"));
    }

    [Theory]
    [InlineData("MaxFileSizeMB", 0, "ParameterArgumentValidationError")]
    [InlineData("MaxFileSizeMB", 100 * 1024 + 1, "ParameterArgumentValidationError")] // the engine's limit, not a looser one of its own
    [InlineData("FileType", "Csv", "CannotConvertArgumentNoMessage")]
    public void Invalid_parameter_values_fail_binding(string parameter, object value, string errorId)
    {
        using var session = new ModuleSession();
        var parameters = new Hashtable { ["Name"] = "d", ["Type"] = "Local", ["Path"] = session.Work.Path, [parameter] = value };

        var error = Assert.ThrowsAny<ParameterBindingException>(() => session.Invoke("New-ExportDestination", parameters));

        Assert.Equal(errorId + ",DatasetExport.Commands.NewExportDestinationCommand", error.ErrorRecord.FullyQualifiedErrorId);
        Assert.Equal(parameter, error.ParameterName);
    }

    [Fact]
    public void Host_key_pin_must_look_like_ssh_keygen_output()
    {
        using var session = new ModuleSession();
        var parameters = new Hashtable
        {
            ["Name"] = "s", ["Type"] = "Sftp", ["HostName"] = "127.0.0.1", ["Credential"] = Credential("u", "p"),
            ["HostKeyFingerprint"] = "MD5:aa:bb",
        };

        var error = Assert.ThrowsAny<ParameterBindingException>(() => session.Invoke("New-ExportDestination", parameters));

        Assert.Equal("ParameterArgumentValidationError,DatasetExport.Commands.NewExportDestinationCommand", error.ErrorRecord.FullyQualifiedErrorId);
    }

    [Fact]
    public void Snappy_for_json_is_an_invalid_argument_naming_the_destination()
    {
        using var session = new ModuleSession();
        var result = session.Run("New-ExportDestination -Name d -Type Local -Path $args[0] -FileType Json -Compression Snappy", session.Work.Path);

        var error = Assert.Single(result.Errors);
        Assert.Equal("InvalidCompressionForFileType,DatasetExport.Commands.NewExportDestinationCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidArgument, error.CategoryInfo.Category);
        Assert.Equal("d", error.TargetObject);
        Assert.Contains("Snappy", error.Exception.Message);
        Assert.Empty(result.Output);
    }

    [Fact]
    public void Type_that_does_not_match_the_parameters_is_an_invalid_argument()
    {
        using var session = new ModuleSession();
        var result = session.Run("New-ExportDestination -Name d -Type AmazonS3 -Path $args[0]", session.Work.Path);

        var error = Assert.Single(result.Errors);
        Assert.Equal("ParametersDoNotMatchType,DatasetExport.Commands.NewExportDestinationCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidArgument, error.CategoryInfo.Category);
        Assert.Contains("Local", error.Exception.Message);
    }

    [Fact]
    public void Module_enums_can_be_named_in_scripts()
    {
        using var session = new ModuleSession();
        var result = session.Run("[DatasetExport.DestinationType]::AzureDataLakeGen2; [DatasetExport.Compression]'Zstd'; [DatasetExport.RunStatus]::Failed")
            .AssertNoErrors();

        Assert.Equal(["AzureDataLakeGen2", "Zstd", "Failed"], result.Output.Select(o => o.BaseObject.ToString()));
    }

    [Fact]
    public void Module_can_be_removed_and_imported_again()
    {
        using var session = new ModuleSession();
        session.Run("Get-ExportDestination").AssertNoErrors(); // the engine is loaded and bound

        var result = session.Run("""
            Remove-Module DatasetExport
            if (Get-Command Get-ExportDestination -ErrorAction SilentlyContinue) { throw 'still exported after Remove-Module' }
            Import-Module $args[0]
            New-ExportDestination -Name again -Type Local -Path $args[1]
            """, ModuleSession.ManifestPath, session.Work.Combine("out")).AssertNoErrors();

        Assert.Equal("again", Assert.Single(result.Output).BaseObject.ToString());
    }

    internal static PSCredential Credential(string user, string password)
    {
        var secure = new System.Security.SecureString();
        foreach (var c in password) secure.AppendChar(c);
        return new PSCredential(user, secure);
    }
}
