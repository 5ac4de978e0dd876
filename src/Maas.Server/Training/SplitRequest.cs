namespace Maas.Server.Training;

/// <summary>The split part of a training request.</summary>
public sealed record SplitRequest(double? Validation, double? Test, int? Seed);
