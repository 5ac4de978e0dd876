Console.WriteLine("maas bench: see bench/README.md for the benchmarks and how to run them");
