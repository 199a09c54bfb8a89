"""Looking inside a deployment: logs and restart by module name, and the support bundle
(one redacted archive of a site, a folder per host). Engine code: reports, never prints."""
