using Maas.Server.Health;
using Maas.Server.Hosting;

var builder = WebApplication.CreateBuilder(args);
builder.AddMaasHosting();

var app = builder.Build();
app.MapMaasHealth();

app.Run();

/// <summary>The server's entry point; public so tests can reference the assembly.</summary>
public partial class Program;
