namespace Maas.Core.Tenancy;

/// <summary>The result of an admission: admitted (with the header values), or refused with the reason.</summary>
public readonly record struct Admission(LimitRejection? Rejection, WindowStatus? Requests, WindowStatus? Tokens)
{
    /// <summary>True when the request may run (and must be released when it ends).</summary>
    public bool Admitted => Rejection is null;
}
