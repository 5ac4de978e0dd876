using Maas.Core.Llm;

namespace Maas.Server.OpenAi;

/// <summary>One choice's event in a merged stream of n choices.</summary>
internal readonly record struct ChoiceEvent(int Index, GenerationEvent Event);
