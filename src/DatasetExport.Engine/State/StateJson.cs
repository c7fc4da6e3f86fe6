using System.Text.Json.Serialization;

namespace DatasetExport.Engine.State;

/// <summary>
/// The JSON the state store keeps in its text columns, with serializers generated at build time: the reflection-based
/// ones cost a new process tens of milliseconds of CPU on their first use, on the way to every run.
/// </summary>
[JsonSerializable(typeof(Dictionary<string, string>))]
[JsonSerializable(typeof(List<string>))]
[JsonSerializable(typeof(List<SkippedBatchRecord>))]
internal sealed partial class StateJson : JsonSerializerContext;
