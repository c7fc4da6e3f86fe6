using DatasetExport.Engine.Destinations;
using DatasetExport.Engine.Destinations.Local;
using DatasetExport.Engine.Export;
using DatasetExport.Engine.Formats;
using DatasetExport.Engine.State;

namespace DatasetExport.Engine.Tests.Export;

public sealed class FolderTemplateTests
{
    private static readonly FolderTemplateValues Values = new("web", "Web events", "archive", "nightly", new DateTimeOffset(2026, 3, 4, 5, 6, 0, TimeSpan.Zero));

    [Theory]
    [InlineData(FolderTemplate.Default, "web/exportTime=202603040506")]
    [InlineData("%DESTINATION%/%FLOW_NAME%/%DATASET_ID%/%EXPORT_TIME%", "archive/nightly/web/202603040506")]
    [InlineData("%DATASET_NAME%-%DATASET_ID%/%DATETIME(yyyyMMdd_HHmmss)%", "Web events-web/20260304_050600")]
    [InlineData("by-day/%DATETIME(yyyy/MM/dd)%/%DATASET_ID%", "by-day/2026/03/04/web")]
    public void Macros_expand_to_the_run_s_folder(string template, string expected)
    {
        FolderTemplate.Validate(template);
        Assert.Equal(expected, FolderTemplate.Expand(template, Values));
    }

    [Fact]
    public void Names_become_single_safe_path_segments()
    {
        var hostile = Values with { DatasetName = "../../etc", FlowName = "a/b\\c:d", DestinationName = ".." };
        Assert.Equal("_/a_b_c_d/.._.._etc/web", FolderTemplate.Expand("%DESTINATION%/%FLOW_NAME%/%DATASET_NAME%/%DATASET_ID%", hostile));
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("/abs/%DATASET_ID%", "relative")]
    [InlineData("C:/x/%DATASET_ID%", "relative")]
    [InlineData("../%DATASET_ID%", "not a folder below")]
    [InlineData("a/./%DATASET_ID%", "not a folder below")]
    [InlineData("%DATASET_NAME%/%EXPORT_TIME%", "%DATASET_ID%")]
    [InlineData("%EXPORT_TIME%", "%DATASET_ID%")]
    [InlineData("%DATASET_ID%/%NOPE%", "not a macro")]
    [InlineData("%DATASET_ID%/%DATETIME%", "needs a format")]
    [InlineData("%DATASET_ID%/%EXPORT_TIME(x)%", "takes no format")]
    [InlineData("%DATASET_ID%/50%", "does not belong to a macro")]
    [InlineData("%DATASET_ID%/a:b", "cannot be part of a path")]
    [InlineData("%DATASET_ID%/%DATETIME(HH:mm)%", "cannot be part of a path")]
    [InlineData("%DATASET_ID%/%DATETIME(..)%", "not a folder below")]
    [InlineData("%DATASET_ID%\ttab", "control characters")]
    public void Templates_that_escape_collide_or_do_not_parse_are_rejected(string template, string why)
    {
        var error = Assert.Throws<ArgumentException>(() => FolderTemplate.Validate(template));
        Assert.Equal("FolderTemplate", error.ParamName);
        Assert.Contains(why, error.Message);
    }

    [Fact]
    public async Task A_destination_s_template_names_the_folders_of_its_runs()
    {
        using var root = new TempFolder("de-template");
        SampleLake.WriteEvents(root.Combine("lake", "web", "a.jsonl"), 0, 20);
        File.WriteAllText(root.Combine("lake", "web", "_dataset.json"), """{"name":"Web events"}""");
        using var engine = ExportEngine.Open(new EngineOptions { StateHome = root.Combine("state") });
        var destination = new DestinationSettings
        {
            Name = "archive", Type = DestinationType.Local, FileType = FileType.Json, IncludeManifest = true,
            Properties =
            {
                [LocalFolderDestination.PathProperty] = root.Combine("out"),
                [DestinationKeys.FolderTemplate] = "%FLOW_NAME%/%DATASET_NAME%/%DATASET_ID%/%DATETIME(yyyy/MM/dd)%",
            },
        };
        await engine.AddDestinationAsync(destination, skipValidation: false, default);
        var flow = new FlowRecord { Name = "nightly", DestinationId = destination.Id, DatasetIds = ["web"] };
        engine.AddFlow(flow);

        var run = Assert.Single(await engine.RunFlowAsync(flow, root.Combine("lake"), new DateTimeOffset(2026, 3, 4, 5, 6, 0, TimeSpan.Zero), null, default));

        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        Assert.Equal("nightly/Web events/web/2026/03/04", run.ExportPath);
        var folder = root.Combine("out", "nightly", "Web events", "web", "2026", "03", "04");
        Assert.Single(Directory.GetFiles(folder, "part-00000-*.json"));
        Assert.Single(Directory.GetFiles(folder, "manifest-*.json"));
        Assert.True((await engine.VerifyRunAsync(run, default)).IsValid);

        destination.Properties[DestinationKeys.FolderTemplate] = "../%DATASET_ID%";
        var rejected = await Assert.ThrowsAsync<ArgumentException>(() => engine.UpdateDestinationAsync(destination, skipValidation: true, default));
        Assert.Equal("FolderTemplate", rejected.ParamName);
    }
}
