using System.Collections.ObjectModel;
using System.Globalization;
using System.Management.Automation;
using System.Management.Automation.Host;
using System.Security;
using System.Text;

namespace DatasetExport.Module.Tests;

/// <summary>
/// A host that records what PowerShell writes to the console (where -WhatIf text goes) and answers -Confirm
/// prompts with <see cref="ConfirmAnswer"/>. Any other prompt fails the test: the cmdlets must never ask.
/// </summary>
public sealed class TestHost : PSHost
{
    private readonly TestHostUserInterface _ui = new();

    public override string Name => "DatasetExportTestHost";
    public override Version Version => new(1, 0);
    public override Guid InstanceId { get; } = Guid.NewGuid();
    public override PSHostUserInterface UI => _ui;
    public override CultureInfo CurrentCulture => CultureInfo.InvariantCulture;
    public override CultureInfo CurrentUICulture => CultureInfo.InvariantCulture;

    /// <summary>Everything written to the console so far.</summary>
    public string Text => _ui.Text;

    /// <summary>The label of the choice -Confirm prompts get ("Yes", "No", ...).</summary>
    public string ConfirmAnswer { get => _ui.ConfirmAnswer; set => _ui.ConfirmAnswer = value; }

    /// <summary>How many confirmation prompts were answered.</summary>
    public int PromptCount => _ui.PromptCount;

    public void ClearText() => _ui.Clear();

    public override void SetShouldExit(int exitCode) { }
    public override void EnterNestedPrompt() => throw new NotSupportedException();
    public override void ExitNestedPrompt() => throw new NotSupportedException();
    public override void NotifyBeginApplication() { }
    public override void NotifyEndApplication() { }

    private sealed class TestHostUserInterface : PSHostUserInterface
    {
        private readonly StringBuilder _text = new();
        private readonly object _lock = new();

        public string ConfirmAnswer { get; set; } = "No";
        public int PromptCount { get; private set; }

        public string Text { get { lock (_lock) return _text.ToString(); } }

        public void Clear() { lock (_lock) _text.Clear(); }

        public override PSHostRawUserInterface? RawUI => null;

        public override void Write(string value) { lock (_lock) _text.Append(value); }
        public override void Write(ConsoleColor foregroundColor, ConsoleColor backgroundColor, string value) => Write(value);
        public override void WriteLine(string value) => Write(value + "\n");
        public override void WriteErrorLine(string value) => WriteLine(value);
        public override void WriteDebugLine(string message) => WriteLine("DEBUG: " + message);
        public override void WriteVerboseLine(string message) => WriteLine("VERBOSE: " + message);
        public override void WriteWarningLine(string message) => WriteLine("WARNING: " + message);
        public override void WriteProgress(long sourceId, ProgressRecord record) { }

        public override int PromptForChoice(string caption, string message, Collection<ChoiceDescription> choices, int defaultChoice)
        {
            WriteLine($"{caption}: {message}");
            PromptCount++;
            for (var i = 0; i < choices.Count; i++)
            {
                if (choices[i].Label.Replace("&", "").Equals(ConfirmAnswer, StringComparison.OrdinalIgnoreCase)) return i;
            }
            throw new InvalidOperationException($"No choice labelled '{ConfirmAnswer}' in: {string.Join(", ", choices.Select(c => c.Label))}");
        }

        public override Dictionary<string, PSObject> Prompt(string caption, string message, Collection<FieldDescription> descriptions) =>
            throw new InvalidOperationException($"Unexpected prompt: {caption} {message}");
        public override PSCredential PromptForCredential(string caption, string message, string userName, string targetName) =>
            throw new InvalidOperationException($"Unexpected credential prompt: {caption}");
        public override PSCredential PromptForCredential(string caption, string message, string userName, string targetName,
            PSCredentialTypes allowedCredentialTypes, PSCredentialUIOptions options) =>
            throw new InvalidOperationException($"Unexpected credential prompt: {caption}");
        public override string ReadLine() => throw new InvalidOperationException("Unexpected ReadLine.");
        public override SecureString ReadLineAsSecureString() => throw new InvalidOperationException("Unexpected ReadLineAsSecureString.");
    }
}
