using Maas.Server;

var app = MaasApp.Create(args);
app.Run();
