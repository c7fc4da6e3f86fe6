using DatasetExport.Engine.Destinations.Azure;

namespace DatasetExport.Engine.Tests.Destinations.Azure;

public sealed class AdlsUrlTests
{
    [Theory]
    [InlineData("abfss://raw@mylake.dfs.core.windows.net", "raw", "mylake", "")]
    [InlineData("abfss://raw@mylake.dfs.core.windows.net/", "raw", "mylake", "")]
    [InlineData("abfss://landing-zone@lake01.dfs.core.windows.net/exports/daily/", "landing-zone", "lake01", "exports/daily")]
    [InlineData("ABFSS://raw@MyLake.DFS.Core.Windows.Net/a%20b", "raw", "mylake", "a b")]
    [InlineData("abfs://raw@mylake.dfs.core.windows.net/x", "raw", "mylake", "x")]
    public void Parses_file_system_account_and_path(string url, string fileSystem, string account, string path)
    {
        Assert.Equal(new AdlsLocation(fileSystem, account, path), AdlsUrl.Parse(url));
    }

    [Theory]
    [InlineData("https://mylake.dfs.core.windows.net/raw", "not an ADLS Gen2 URL")]
    [InlineData("abfss://mylake.dfs.core.windows.net/raw", "not an ADLS Gen2 URL")]
    [InlineData("abfss://raw@mylake.blob.core.windows.net", "not an ADLS Gen2 URL")]
    [InlineData("abfss://@mylake.dfs.core.windows.net", "not an ADLS Gen2 URL")]
    [InlineData("abfss://Raw@mylake.dfs.core.windows.net", "not a valid file system name")]
    [InlineData("abfss://r--w@mylake.dfs.core.windows.net", "not a valid file system name")]
    [InlineData("abfss://rw@mylake.dfs.core.windows.net", "not a valid file system name")]
    [InlineData("abfss://raw@my-lake.dfs.core.windows.net", "not a valid storage account name")]
    [InlineData("", "not an ADLS Gen2 URL")]
    public void Refuses_other_urls_naming_the_input(string url, string reason)
    {
        var error = Assert.Throws<ArgumentException>(() => AdlsUrl.Parse(url));

        Assert.Contains(reason, error.Message);
        Assert.Contains($"'{url}'", error.Message);
    }

    /// <summary>A query is most likely a shared access signature: refused, and the URL is quoted without it.</summary>
    [Theory]
    [InlineData("abfss://raw@mylake.dfs.core.windows.net/x?sv=2024-08-04&sig=c2lnbmF0dXJl", "abfss://raw@mylake.dfs.core.windows.net/x")]
    [InlineData("https://mylake.dfs.core.windows.net/raw?sv=2024-08-04&sig=c2lnbmF0dXJl", "https://mylake.dfs.core.windows.net/raw")]
    public void Refuses_a_query_without_quoting_it(string url, string quoted)
    {
        var error = Assert.Throws<ArgumentException>(() => AdlsUrl.Parse(url));

        Assert.Contains($"'{quoted}' is followed by a query", error.Message);
        Assert.DoesNotContain("c2lnbmF0dXJl", error.ToString());
    }
}
