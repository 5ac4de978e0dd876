using System.CommandLine;

var root = new RootCommand("maas: the MaaS command line");
return root.Parse(args).Invoke();
