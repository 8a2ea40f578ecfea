# escape=`
FROM mcr.microsoft.com/windows/servercore:ltsc2022
SHELL ["powershell", "-Command"]
WORKDIR C:\app
RUN New-Item -ItemType Directory C:\data ; `
    Write-Host "done"
COPY app\ C:\app\
RUN dir C:\ `
    # a comment inside the continuation
    && echo ok
EXPOSE 80 `
       8080:80
USER ContainerUser
CMD ["C:\\app\\app.exe"]
